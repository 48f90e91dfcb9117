"""``LambdaCallback``: a callback made of plain functions.

>>> from nerve.callbacks import LambdaCallback
>>> callback = LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
>>> callback.on_epoch_end(4, {"loss": 0.25})
4 0.25
"""

from __future__ import annotations

from collections.abc import Callable

from nerve.callbacks.callback import Callback

__all__ = ["LambdaCallback"]

_HOOKS = frozenset(
    name for name in vars(Callback) if name.startswith("on_") and callable(getattr(Callback, name))
)


class LambdaCallback(Callback):
    """Each argument replaces the hook of the same name: ``on_epoch_begin(epoch, logs)``,
    ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``, ``on_train_end(logs)``,
    ``on_train_batch_begin(batch, logs)``, ``on_train_batch_end(batch, logs)``; any other
    hook (``on_test_end=...``, ``on_predict_batch_end=...``) may be passed by keyword.
    """

    def __init__(
        self,
        on_epoch_begin: Callable | None = None,
        on_epoch_end: Callable | None = None,
        on_train_begin: Callable | None = None,
        on_train_end: Callable | None = None,
        on_train_batch_begin: Callable | None = None,
        on_train_batch_end: Callable | None = None,
        **kwargs: Callable,
    ):
        super().__init__()
        unknown = sorted(set(kwargs) - _HOOKS)
        if unknown:
            raise TypeError(
                f"LambdaCallback: {unknown} are not callback hooks; the hooks are {sorted(_HOOKS)}."
            )
        hooks = dict(
            on_epoch_begin=on_epoch_begin,
            on_epoch_end=on_epoch_end,
            on_train_begin=on_train_begin,
            on_train_end=on_train_end,
            on_train_batch_begin=on_train_batch_begin,
            on_train_batch_end=on_train_batch_end,
            **kwargs,
        )
        for name, function in hooks.items():
            if function is not None:
                setattr(self, name, function)
