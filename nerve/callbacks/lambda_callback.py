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
    """A callback made of plain functions, as Keras 3's ``callbacks.LambdaCallback``:
    each function given replaces the hook of the same name, the others stay no-ops.

    Args:
        on_epoch_begin: ``f(epoch, logs)``, called at the start of every epoch
            (default ``None``: nothing).
        on_epoch_end: ``f(epoch, logs)``, called at the end of every epoch, after
            validation (default ``None``).
        on_train_begin: ``f(logs)``, called once when ``fit`` starts (default
            ``None``).
        on_train_end: ``f(logs)``, called once when ``fit`` ends (default ``None``).
        on_train_batch_begin: ``f(batch, logs)``, called before every training step
            (default ``None``).
        on_train_batch_end: ``f(batch, logs)``, called after every training step
            (default ``None``).
        **kwargs: functions for any other hook, by its name (``on_test_end=...``,
            ``on_predict_batch_end=...``, ``on_batch_end=...``); a name that is not a
            hook is a ``TypeError``.

    >>> seen = []
    >>> callback = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs["loss"]),
    ...                           on_test_end=lambda logs: seen.append("tested"))
    >>> callback.on_epoch_end(4, {"loss": 0.25}); callback.on_test_end({})
    >>> seen
    [0.25, 'tested']
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
