"""The app's pages, in menu order: one list that app.py navigates and the home page links to.

Each page's file stem equals its url_path: before st.navigation has run in a new session,
Streamlit also derives pages from the pages/ folder by file name, and a mismatch flashes a
"Page not found" box on a direct link.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    path: str
    title: str
    icon: str
    blurb: str

    @property
    def url_path(self) -> str:
        return self.path.removeprefix("pages/").removesuffix(".py")


HOME = PageInfo("pages/home.py", "Home", ":material/home:", "")
PAGES: tuple[PageInfo, ...] = (
    PageInfo(
        "pages/boundary.py", "Decision boundary", ":material/scatter_plot:",
        "Points slide across a 2-D classifier's boundary as ε grows. Press Play, click a point "
        "to see its ε-ball and gradient sign, switch on an adversarially trained model.",
    ),
    PageInfo(
        "pages/digits.py", "Digits", ":material/draw:",
        "A real MNIST digit, the perturbation and the adversarial digit side by side. Draw or "
        "upload your own; watch the logits race as ε grows.",
    ),
    PageInfo(
        "pages/robustness.py", "Robustness lab", ":material/science:",
        "Accuracy-vs-ε curves for the three shipped models next to the papers' numbers, "
        "adversarial training, and transfer between models.",
    ),
    PageInfo(
        "pages/masking.py", "Masking lab", ":material/visibility_off:",
        "Fake defences that fool FGSM and PGD, the sanity check that catches each, and the "
        "attack that sees through it: what the evaluation claims vs the worst case.",
    ),
    PageInfo(
        "pages/how-it-works.py", "How it works", ":material/school:",
        "The gradient of the loss with respect to the input, why its sign, the ε-ball and "
        "PGD's projection, and the mistakes this tool guards against.",
    ),
)
