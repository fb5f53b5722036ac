"""Loaded by the experiment scripts that tests start: with HW1_NO_NETWORK=1 no socket may connect."""

import os
import socket

if os.environ.get("HW1_NO_NETWORK") == "1":
    def _refuse(*args, **kwargs):
        raise OSError("network access is disabled in tests")

    socket.socket.connect = _refuse
    socket.socket.connect_ex = _refuse
    socket.create_connection = _refuse
