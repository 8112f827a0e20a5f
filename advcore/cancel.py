"""Stopping long work from outside: the `should_stop` hook of advcore's long functions.

A live accuracy cell or a transfer row runs one attack call for tens of seconds to minutes
(PGD-100 on 1,000 digits through the CNN). A caller that no longer wants the result (a notebook
user's deadline, a web page whose visitor left or moved the slider) passes
`should_stop: Callable[[], bool]`. It is asked before every forward pass of the model, at most
every `CHECK_EVERY_S`, so work stops within one forward pass of being cancelled, inside an
attack's iterations and whatever the attack: no attack needs to know about it, and the
numbers are bit-identical to a run without the hook.

When `should_stop()` returns True the function raises `Cancelled`. A hook may instead raise its
own exception (a web framework's stop signal), which propagates unchanged: advcore catches
nothing on the way.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from torch import Tensor, nn

ShouldStop = Callable[[], bool]
# A forward pass of the CNN on a batch of 25-250 digits takes 5-100 ms; asking more often would
# only add the hook's own cost.
CHECK_EVERY_S = 0.05


class Cancelled(Exception):
    """The caller's `should_stop` hook asked an advcore function to stop; nothing is returned."""


def check(should_stop: ShouldStop | None) -> None:
    """Raise `Cancelled` if `should_stop` is given and returns True."""
    if should_stop is not None and should_stop():
        raise Cancelled("stopped by the caller's should_stop hook")


class Interruptible(nn.Module):
    """`model`, asking `should_stop` before a forward pass (at most every `every_s` seconds).

    The wrapped model is held, not registered as a child: `.train()`, `.to()` or `.eval()` on the
    wrapper can never reach a model that other callers share. `training` mirrors the model's mode,
    so an attack's "model in training mode" warning still sees the truth.
    """

    def __init__(self, model: nn.Module, should_stop: ShouldStop,
                 every_s: float = CHECK_EVERY_S) -> None:
        super().__init__()
        object.__setattr__(self, "inner", model)
        self.should_stop = should_stop
        self.every_s = every_s
        self.training = model.training
        self._asked = float("-inf")

    def forward(self, x: Tensor) -> Tensor:
        now = time.monotonic()
        if now - self._asked >= self.every_s:
            self._asked = now
            check(self.should_stop)
        return self.inner(x)


def interruptible(model: nn.Module, should_stop: ShouldStop | None) -> nn.Module:
    """`model` itself without a hook, else an `Interruptible` view of it."""
    return model if should_stop is None else Interruptible(model, should_stop)
