"""Rebuild diabetic_data_sample.csv.gz from the original UCI file (see README.md): one encounter per patient
(the first, by encounter_id), then 25,000 of those patients drawn with numpy's default_rng(0), kept in file
order; every kept line is the original line, byte for byte (CRLF included).

    python data/diabetes/make_sample.py ../shared/data/diabetes/diabetic_data.csv.gz
    gzip -9 -n data/diabetes/diabetic_data_sample.csv
"""

import gzip
import sys
from pathlib import Path

import numpy as np

ROWS = 25_000

with gzip.open(sys.argv[1], "rb") as handle:
    raw = handle.read()
lines = raw.split(b"\r\n")
assert lines[-1] == b"", "the original ends in CRLF"
header, body = lines[0], lines[1:-1]
first: dict[int, tuple[int, int]] = {}  # patient_nbr -> (encounter_id, line)
for i, line in enumerate(body):
    encounter, patient = (int(v) for v in line.split(b",", 2)[:2])
    if patient not in first or encounter < first[patient][0]:
        first[patient] = (encounter, i)
rows = sorted(i for _, i in first.values())
keep = np.sort(np.random.default_rng(0).choice(len(rows), ROWS, replace=False))
out = Path(__file__).with_name("diabetic_data_sample.csv")
out.write_bytes(b"\r\n".join([header] + [body[rows[k]] for k in keep]) + b"\r\n")
print(f"{len(body):,} encounters, {len(first):,} patients, {ROWS:,} kept -> {out}")
