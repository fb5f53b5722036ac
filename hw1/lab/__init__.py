"""hw1.lab: the homework machinery — data and its checks, the ``--function`` language, architectures, the
trainer, the experiment harness and the command lines. It measures through :mod:`hw1.measure`, writes through
:mod:`hw1.results` and draws through :mod:`hw1.report`; neither of those imports it."""
