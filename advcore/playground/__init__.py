"""The playground's computations: what each page of Adversarial Playground computes and draws.

The library is the level above (attacks, evaluate, exact, certify, data, models, train,
defences, preprocess). This package builds the pages' scenes on it: the URL state of each page
(`state`), the 2-D boundary scenes (`boundary`), the digits (`digits`, `hero`), the robustness
curves (`robustness`), the explanations and silent mistakes (`explain`, `mistakes`), the masking
lab (`masking`), the named scenes (`scenes`), the exports (`export`) and the Plotly figures
(`figures`). Like all of advcore it never imports Streamlit. Importing it imports nothing.
"""
