"""advcore: a small, correct adversarial-attack engine in PyTorch, and the data, models and
figures behind Adversarial Playground. It never imports Streamlit and works from a notebook:

    from advcore import attacks, data, models
    x, y = data.mnist("test")
    model = models.pretrained("mnist-cnn")
    x_adv = attacks.fgsm(model, x[:8], y[:8], eps=0.1)
"""

__version__ = "0.1.0"
