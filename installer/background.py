"""A call run on a thread of its own, for the slow probes that wait on other processes.

concurrent.futures would do, but its import (logging, queue) costs more start-up time than
everything here; detect runs on every torchup command.
"""

import threading
from typing import Any, Callable


class Background:
    def __init__(self, function: Callable[..., Any], *args: Any):
        self._value: Any = None
        self._error: BaseException = None
        self._thread = threading.Thread(target=self._run, args=(function, args), daemon=True)
        self._thread.start()

    def _run(self, function, args):
        try:
            self._value = function(*args)
        except BaseException as error:  # handed to whoever asks for the result
            self._error = error

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
