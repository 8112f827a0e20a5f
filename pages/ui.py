"""Streamlit-side helpers shared by every page: cached loaders, scene <-> URL, messages, talk mode.

Caching lives here and nowhere else. Models are cached once per process with st.cache_resource
and shared by every browser session, so nothing here (or in advcore) may mutate them.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import streamlit as st
from torch import nn

from advcore import models, state
from advcore.data import toy_dataset

S = TypeVar("S")


# --- cached loaders ----------------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading model…")
def pretrained_model(name: str) -> nn.Module:
    """A shipped MNIST model, loaded once per process (raises models.AssetError)."""
    return models.pretrained(name)


def pretrained_or_stop(name: str) -> nn.Module:
    """The shipped model `name`, or a clear error on the page (and the page stops) if its
    weight file is missing or corrupt. Other pages and sessions keep working."""
    try:
        return pretrained_model(name)
    except models.AssetError as exc:
        st.error(f"Model **{name}** cannot be loaded: {exc}")
        st.stop()
        raise  # unreachable: st.stop() raises


@st.cache_data(show_spinner=False, max_entries=64)
def toy_data(name: str, n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return toy_dataset(name, n=n, noise=noise, seed=seed)


# --- scenes and the URL ------------------------------------------------------------------------


def scene_from_url(cls: type[S]) -> S:
    """The page's scene from st.query_params; each bad parameter gets a visible warning."""
    params = {k: st.query_params.get_all(k) for k in st.query_params}
    scene, warnings = state.from_query(cls, params)
    for w in warnings:
        st.warning(w, icon="⚠️")
    return scene


def write_url(scene: Any) -> None:
    """Put the scene in the URL so the address bar always reopens the same picture."""
    wanted = state.to_query(scene)
    if {k: st.query_params.get(k) for k in wanted} != wanted:
        st.query_params.from_dict(wanted)
