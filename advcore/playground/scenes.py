"""Named scenes: prepared pictures a speaker opens from a link, the same every time.

A scene is a page plus the query parameters that fix every control on it (seed included), so it
is nothing more than a URL. Each one is checked by the tests to open without a warning, to set
the controls it names, and to show what its title promises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode


@dataclass(frozen=True)
class NamedScene:
    """A prepared scene: `page` is a url_path of the app, `params` its query parameters."""

    slug: str
    title: str
    blurb: str
    page: str
    params: dict[str, str] = field(default_factory=dict)

    def url(self, *, talk: bool = False) -> str:
        """The scene's relative URL, e.g. "/boundary?dataset=moons&…" (talk=True adds talk=1)."""
        params = dict(self.params)
        if talk:
            params["talk"] = "1"
        return f"/{self.page}?{urlencode(params)}"

    def query(self, *, talk: bool = False) -> dict[str, str]:
        params = dict(self.params)
        if talk:
            params["talk"] = "1"
        return params


def __getattr__(name: str) -> Any:
    """SCENE_TYPES, each page's scene type (to check a named scene against the page's own URL
    parser), made on first use: advcore.playground.state imports torch, and the home page lists the scenes
    without it."""
    if name == "SCENE_TYPES":
        from advcore.playground import state

        return {"boundary": state.BoundaryScene, "digits": state.DigitsScene,
                "robustness": state.RobustnessScene}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

SCENES: tuple[NamedScene, ...] = (
    NamedScene(
        slug="fgsm-corner",
        title="FGSM jumps to a corner of the ε-square",
        blurb="On a linear model the sign of the gradient is the best L∞ step: every point "
        "moves ε along both axes at once, to a corner of its ε-square. Point #0 is highlighted: "
        "P(class 1) 0.15 → 0.73, its arrow ends on the square's corner across the boundary.",
        page="boundary",
        params={"dataset": "blobs", "n": "200", "noise": "0.25", "seed": "0",
                "model": "linear", "attack": "fgsm", "eps": "0.5", "steps": "10", "point": "0"},
    ),
    NamedScene(
        slug="pgd-walks",
        title="PGD walks around the curve",
        blurb="On the curved moons boundary one big sign step overshoots or misses; PGD's small "
        "projected steps follow the curve and flip more points at the same ε. The page puts "
        "FGSM's count at the same ε beside PGD's.",
        page="boundary",
        params={"dataset": "moons", "n": "200", "noise": "0.15", "seed": "0", "model": "mlp",
                "width": "32", "depth": "2", "attack": "pgd", "eps": "0.5", "steps": "20"},
    ),
    NamedScene(
        slug="attack-short-of-truth",
        title="Even PGD falls short of the truth",
        blurb="The moons MLP at ε = 0.5 with ground truth on: PGD-20 leaves 58% of the points "
        "correct, but the exact answer is 47%: 22 points (purple diamonds) can be flipped and "
        "PGD never finds how. Point #127 is one: its nearest boundary point is only ε* = 0.20 "
        "away, yet PGD's path ends on the right side. Certified (CROWN): 18%. An attack gives "
        "an upper bound on robust accuracy, a certificate a lower one.",
        page="boundary",
        params={"dataset": "moons", "n": "200", "noise": "0.15", "seed": "0", "model": "mlp",
                "width": "32", "depth": "2", "attack": "pgd", "eps": "0.5", "steps": "20",
                "point": "127", "truth": "1"},
    ),
    NamedScene(
        slug="seven-to-three",
        title="A 7 that becomes a 3",
        blurb="Targeted PGD at ε = 0.1 (25.5/255) turns test digit 8, a clear 7, into a 3 for "
        "the standard CNN: the 3 now wins the vote, though not by a landslide. A person still "
        "sees a 7, with grey speckles on the background.",
        page="digits",
        params={"model": "mnist-cnn", "attack": "pgd", "eps": "0.1", "steps": "40",
                "index": "8", "target": "3"},
    ),
    NamedScene(
        slug="robust-holds",
        title="The robust model holds at ε = 0.3",
        blurb="The same 7 against the adversarially trained CNN: PGD with ε = 0.3 (76.5/255) "
        "leaves visible scratches, and the model still says 7.",
        page="digits",
        params={"model": "mnist-cnn-robust", "attack": "pgd", "eps": "0.3", "steps": "40",
                "index": "8", "target": "none"},
    ),
    NamedScene(
        slug="softmax-falls",
        title="Softmax regression falls at ε = 0.25",
        blurb="Goodfellow et al.'s linearity argument in one picture: FGSM at ε = 0.25 fools "
        "the linear model on almost every digit.",
        page="digits",
        params={"model": "mnist-linear", "attack": "fgsm", "eps": "0.25", "steps": "10",
                "index": "8", "target": "none"},
    ),
    NamedScene(
        slug="beside-the-papers",
        title="Our models beside the papers",
        blurb="Accuracy against ε for the three shipped models under FGSM and PGD, with "
        "Goodfellow et al. 2015, Madry et al. 2018 and the PyTorch FGSM tutorial overlaid.",
        page="robustness",
        params={"section": "curves", "papers": "1"},
    ),
    NamedScene(
        slug="training-as-augmentation",
        title="Adversarial examples as data augmentation",
        blurb="The same network trained with and without PGD examples mixed in: on 2-D data the "
        "boundary moves away from the points; on MNIST PGD accuracy at ε = 0.3 jumps from 0% to "
        "about 90%.",
        page="robustness",
        params={"section": "training", "attack": "pgd", "eps": "0.3", "steps": "20",
                "dataset": "moons", "noise": "0.2", "seed": "0", "toy_attack": "pgd",
                "toy_eps": "0.3"},
    ),
)


def get_scene(slug: str) -> NamedScene:
    for scene in SCENES:
        if scene.slug == slug:
            return scene
    raise ValueError(f"unknown scene {slug!r}; known: {', '.join(s.slug for s in SCENES)}")
