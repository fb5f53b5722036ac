"""Results: the seam between the lab (which writes a run) and the report (which reads it). Neither TensorFlow
nor matplotlib is imported here.

Every experiment writes into ``<out>/<experiment>/``:

- ``settings.json``: what was asked: every setting, the seed, the profile, versions, machine;
- one or more tidy CSVs (one row per observation, one named column per variable; the
  vocabulary is in README "Results files"), exactly the tables and columns :mod:`hw1.results.schema` declares;
- ``outcome.json``: what came out (wall time, peak memory, summary numbers) and the
  fingerprint of every CSV written. It is written LAST: a folder without it holds an
  unfinished run, and one whose CSVs do not match it mixes two runs;
- its figures (PNG), drawn from the CSVs by :mod:`hw1.report.plots`.

Three modules: :mod:`~hw1.results.files` (atomic writes, bounded reads, digests, safe names),
:mod:`~hw1.results.schema` (each experiment's tables and the settings its view reads, declared once) and
:mod:`~hw1.results.folder` (:class:`ResultsFolder`, the reader of a finished run). Their public names are
re-exported here: ``from hw1.results import ResultsFolder``.
"""

from hw1.results.files import (MAX_GRID_CELLS, DiskFullError, ResultsError, atomic_path, check_grid, file_digest,
                               inside, read_csv, read_json, read_regular, safe_name, stale_temporary, write_csv,
                               write_json, write_text)
from hw1.results.folder import ResultsFolder
from hw1.results.schema import Csv

__all__ = ["ResultsError", "DiskFullError", "ResultsFolder", "atomic_path", "write_text", "write_csv", "read_csv",
           "write_json", "read_json", "read_regular", "file_digest", "safe_name", "inside", "check_grid",
           "stale_temporary", "MAX_GRID_CELLS", "Csv"]
