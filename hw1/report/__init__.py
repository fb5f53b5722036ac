"""hw1.report: presentation without TensorFlow — the views of each experiment, the figures, the document, its
prose and the evidence rule, and the report (``python -m hw1.report [DIR]``). It reads a results folder through
:mod:`hw1.results` only."""
