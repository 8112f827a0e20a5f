"""Home (through app.py, as a visitor arrives): the live hero, a card per page, every scene."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from advcore.playground.scenes import SCENES
from pages.catalog import PAGES

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _home(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _links(at: AppTest) -> list:
    return [el for el in at.main if el.type == "page_link"]


def test_home_computes_the_hero_live_and_links_every_page_and_scene():
    at = _home()
    assert at.title[0].value == "Adversarial Playground"
    # The hero is computed on load: the caption reports the network's two answers.
    assert any("the network said 7, now it says 3" in c.value for c in at.caption)
    hero = [e.proto.body for e in at.get("html") if "data-panels=" in e.proto.body]
    assert len(hero) == 1 and "Adversarial → <b><span style='color:#d62728'>3</span>" in hero[0]
    labels = [link.proto.label for link in _links(at)]
    for info in PAGES:
        assert f"**{info.title}**" in labels
    for scene in SCENES:
        assert f"**{scene.title}**" in labels
        assert any(scene.url() in c.value for c in at.caption), scene.slug


def test_talk_mode_scene_links_carry_talk_1():
    at = _home(talk="1")
    assert at.toggle(key="home.talk_links").value is True
    assert all("talk=1" in c.value for c in at.caption if c.value.count("`/") == 1)


def test_every_page_opens_through_the_navigation():
    at = _home()
    for info in PAGES:
        at.switch_page(info.path).run()
        assert not at.exception, (info.path, [e.value for e in at.exception])
        assert at.title, info.path
