"""`synth init DATA`: profile a table and write a commented pipeline spec that runs as is.

The CSV layout (separator, header) is sniffed from the first lines, missing markers are found in the data,
every column is profiled by `synth.profile` (what was detected, what is done), and the spec is written under
a temporary name, read back with `synth.spec.load_spec`, its source loaded with `synth.data.load_table` and
checked with `PipelineSpec.check_against`, and only then renamed into place.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from synth.commands import EXIT_OK

#: Optimisation steps the default TVAE aims for: the demo's 300 epochs of 53 batches (Adult, 26,049 training
#: rows) are 15,900 steps and pass the default gate.
TARGET_STEPS = 15_000
#: Epochs are clamped to this range: a huge table still sees each row a few times, and a small one at most
#: MAX_EPOCHS times, because passes over the same rows are what memorises them. Measured with `synth run` on
#: German credit (800 training rows, batches of 80, 2026-12-02), since integer codes are learned as categories
#: (synth.column_plan) the model fits such a table faster: 750 epochs failed the gate on memorisation (DCR share
#: 0.606 against the 0.6 limit; detection AUC 0.49), 375 passed (DCR 0.570, quality 0.964, detection 0.525).
#: TVAE's default 300 epochs of batches of 500 (600 steps) failed the gate there (pair trends 0.7997). Telco
#: churn (5,634 training rows) passed at 750 epochs (detection 0.847, DCR 0.502).
MIN_EPOCHS, MAX_EPOCHS = 10, 400
#: TVAE's default batch; smaller tables take a tenth of their training rows per batch (at least `MIN_BATCH`), so
#: an epoch is at least 10 steps.
BATCH_SIZE, MIN_BATCH = 500, 16
HOLDOUT_FRACTION = 0.2
#: File name endings left out of a dataset name derived from the file name.
_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst", ".csv", ".tsv", ".txt", ".data", ".dat", ".parquet", ".pq")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: Characters YAML cannot hold as they are (controls, line breaks other than \n, non-characters): escaped.
_NOT_PRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff]")


def register(commands) -> None:
    init = commands.add_parser(
        "init",
        help="profile a CSV/Parquet table and write a commented pipeline spec for it",
        description="Profile DATA (separator, header, missing markers, column types, identifiers, target) and "
        "write a spec that `synth run` runs as is. Prints one line per column: what was detected and what was done.",
    )
    init.add_argument("data", type=Path, metavar="DATA",
                      help="the real table: CSV (optionally .gz/.bz2/.zip/.xz) or Parquet")
    init.add_argument("--target", metavar="COL",
                      help="the column a classifier should predict (default: suggested from the data)")
    init.add_argument("--out", type=Path, metavar="SPEC",
                      help="spec file to write (default: NAME.yaml in the current folder)")
    init.add_argument("--name", help="dataset name in the catalog (default: from the file name)")
    init.add_argument("--force", action="store_true", help="replace an existing --out file")


def dataset_name(path: Path) -> str:
    """A catalog name from a file name: known endings dropped, other characters than letters, digits, _ . -
    replaced by _."""
    name = path.name
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name, changed = name[: -len(suffix)], True
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip("_.-")[:100]
    return name or "table"


def tvae_schedule(n_train: int) -> tuple[int, int, str]:
    """(epochs, batch_size, the rule in words) for TVAE on `n_train` training rows."""
    batch = min(BATCH_SIZE, n_train, max(MIN_BATCH, n_train // 10))
    steps = math.ceil(n_train / batch)
    epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, round(TARGET_STEPS / steps)))
    rule = (f"{n_train:,} training rows in batches of {batch} = {steps} steps per epoch; epochs = "
            f"{TARGET_STEPS:,} steps / {steps} per epoch, clamped to {MIN_EPOCHS}..{MAX_EPOCHS:,} = {epochs} "
            f"({epochs * steps:,} steps). Batches are {BATCH_SIZE} rows, or a tenth of the training rows (at least "
            f"{MIN_BATCH}) for fewer than {BATCH_SIZE * 10:,}, so a small table still gets many steps: 1,000 rows "
            f"train {MAX_EPOCHS} epochs of 10 steps, not 300 of 2 (which failed the gate on such a table); at most "
            f"{MAX_EPOCHS} passes over the rows, since more start to memorise them")
    return epochs, batch, rule


def _check_paths(args: argparse.Namespace, out: Path) -> None:
    from synth.errors import DataError, SynthError

    data = args.data
    if not data.exists():
        raise DataError(f"{data}: file not found; give the path of a CSV or Parquet table")
    if data.is_dir():
        raise DataError(f"{data}: is a folder; give the table file in it (CSV or Parquet)")
    if data.stat().st_size == 0:
        raise DataError(f"{data}: the file is empty; give a CSV or Parquet table with data")
    parent = out.parent
    if not parent.is_dir():
        raise SynthError(f"--out {out}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SynthError(f"--out {out}: folder {parent} is not writable; choose another place")
    if out.is_dir():
        raise SynthError(f"--out {out}: is a folder; give a file name, e.g. {out / 'spec.yaml'}")
    if os.path.lexists(out) and not args.force:
        raise SynthError(f"--out {out}: already exists; pass --force to replace it, or choose another name")


def _file_format(path: Path) -> str:
    """parquet or csv, from the first bytes (a mislabelled file is named as such) and the name."""
    from synth.errors import DataError

    try:
        with open(path, "rb") as handle:
            magic = handle.read(8)
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({err.strerror}); check its permissions") from None
    suffix = path.suffix.lower()
    if magic.startswith(b"PAR1"):
        return "parquet"
    if suffix in (".parquet", ".pq"):
        raise DataError(f"{path}: named Parquet but not a Parquet file (no PAR1 header); convert it or rename it")
    compressed = {b"\x1f\x8b": (".gz",), b"BZh": (".bz2",), b"\xfd7zXZ": (".xz",), b"PK\x03\x04": (".zip",)}
    for head, suffixes in compressed.items():
        if magic.startswith(head) and suffix not in suffixes:
            if head == b"PK\x03\x04":
                raise DataError(f"{path}: a ZIP archive (an Excel .xlsx?), not a CSV; export the sheet as CSV, or "
                                "name a zipped CSV *.zip")
            raise DataError(f"{path}: compressed ({suffixes[0]}) but not named so; rename it to end in {suffixes[0]} "
                            "so that it is decompressed")
    return "csv"


def _quote(text: str) -> str:
    """A YAML double-quoted scalar holding exactly `text`."""
    body = json.dumps(str(text), ensure_ascii=False)
    return _NOT_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", body)


def _comment(text: str, limit: int = 400) -> str:
    """Text safe on one YAML comment line."""
    text = " ".join(_NOT_PRINTABLE.sub(" ", str(text)).replace("\r", " ").replace("\n", " ").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def execute(args: argparse.Namespace) -> int:
    from synth.errors import DataError, SynthError

    name = args.name if args.name is not None else dataset_name(args.data)
    if not _NAME.match(name) or len(name) > 100:
        raise SynthError(f"--name {name!r}: use letters, digits, _ . - (starting with a letter or digit), at most 100")
    out = args.out if args.out is not None else Path(f"{name}.yaml")
    _check_paths(args, out)
    fmt = _file_format(args.data)

    from synth import profile as profiling
    from synth.data import enough_rows, load_table, minimum_rows, split_sizes
    from synth.spec import SourceSpec, column_names

    layout, names = None, None
    if fmt == "csv":
        layout = profiling.sniff_csv(args.data)
        names = None if layout.header else [f"col{i + 1}" for i in range(layout.fields)]
        source = SourceSpec(path=args.data, format="csv", header=layout.header, columns=names, sep=layout.sep,
                            skip_rows=layout.skip_rows)
    else:
        source = SourceSpec(path=args.data, format="parquet")
    table = load_table(source)
    if table.shape[1] < 2:
        how = f"separator {layout.sep!r}" if layout else "Parquet"
        raise DataError(f"{args.data}: the table has one column ({how}); synth models a table of at least two "
                        "columns: check the separator, or add the columns to model")
    if not enough_rows(len(table), HOLDOUT_FRACTION):
        raise DataError(f"{args.data}: the table has {len(table)} data row(s); at least "
                        f"{minimum_rows(HOLDOUT_FRACTION)} are needed to hold out {HOLDOUT_FRACTION:.0%} and still "
                        "train (a useful generator needs hundreds): use a larger table")
    profiles = profiling.profile_table(table, markers_fixable=fmt == "csv")
    if fmt == "csv":
        _note_na_words(profiling, args.data, layout, names, profiles)
    by_name = {p.name: p for p in profiles}
    headerless = fmt == "csv" and not layout.header
    target, target_why = _target(args, profiles, by_name, headerless)
    kept = [p for p in profiles if p.keep or headerless]
    if all(p.kind == "identifier" for p in kept):
        raise DataError(f"{args.data}: every column is an identifier, free text or empty "
                        f"({column_names(list(by_name))}); nothing is left to model")
    n_train, _ = split_sizes(len(table), HOLDOUT_FRACTION)
    epochs, batch, rule = tvae_schedule(max(n_train, 2))
    na_values = sorted({m for p in profiles for m in p.markers}) if fmt == "csv" else []
    from synth.constraints import propose

    proposals = propose(table, [p.name for p in kept])
    text = _spec_text(args, name, out, layout, profiles, headerless, na_values, target, target_why,
                      epochs, batch, rule, len(table), proposals)
    _write_checked(out, text, args.force)

    width = min(max(len(p.name) for p in profiles), 28)
    shape = f"{len(table):,} rows × {table.shape[1]} columns"
    if layout:
        print(f"read {args.data}: CSV, {shape}; {layout.evidence}")
    else:
        print(f"read {args.data}: Parquet, {shape}")
    if na_values:
        print(f"missing markers: {', '.join(repr(m) for m in na_values)} (source.na_values; applies to every column)")
    for p in profiles:
        action = p.action if p.keep or not headerless else (
            f"kept: a headerless CSV cannot leave a field out (would be {p.action})")
        print(f"  {_comment(p.name, 60):<{width}}  {p.kind:<11}  {_comment(p.evidence)} → {_comment(action)}")
    print(f"target: {target} ({target_why})" if target else f"target: none ({target_why})")
    for text, evidence in proposals:
        print(f"constraint found (commented out in the spec; uncomment to keep it): {_comment(text, 120)}  "
              f"({_comment(evidence, 160)})")
    steps = math.ceil(max(n_train, 2) / batch)
    print(f"generator: tvae, {epochs:,} epochs of {steps} batches of {batch} rows = {epochs * steps:,} steps "
          f"(aiming at {TARGET_STEPS:,}, at most {MAX_EPOCHS} epochs; the rule is in the spec)")
    print(f"wrote {out}; run it: synth run {out}  "
          f"(quick try: synth run {out} --set generator.epochs=2 --set rows=1000)")
    return EXIT_OK


def _note_na_words(profiling, path: Path, layout, names, profiles) -> None:
    """Say where pandas read a word such as "None" as missing in a text column (it may be a real value there)."""
    text_kinds = ("categorical", "boolean", "date_text", "identifier", "text")
    columns = [p.name for p in profiles if p.kind in text_kinds and p.missing]
    found = profiling.pandas_na_words(path, layout, names, columns)
    for p in profiles:
        words = found.get(p.name)
        if not words:
            continue
        said = ", ".join(f"{w!r} ({n:,} rows)" for w, n in words.items())
        p.evidence = f"pandas reads {said} as missing; " + p.evidence
        p.todo.append(f"{said} read as missing: if it is a real value here (e.g. 'not measured'), the spec cannot "
                      "keep it yet (no keep_default_na key): recode it in the file, e.g. to 'none'")


def _target(args, profiles, by_name, headerless) -> tuple[str | None, str]:
    from synth.errors import SynthError
    from synth.profile import suggest_target
    from synth.spec import column_names

    if args.target is None:
        name, why = suggest_target(profiles if not headerless else [_kept(p) for p in profiles])
        return name, (f"{why}; {_utility_task(by_name[name])}" if name is not None else why)
    if args.target not in by_name:
        raise SynthError(f"--target {args.target!r} is not a column of {args.data}; columns: "
                         f"{column_names(list(by_name))}")
    chosen = by_name[args.target]
    if chosen.kind == "identifier":
        raise SynthError(f"--target {args.target!r} is an identifier ({_comment(chosen.evidence, 120)}): unique per "
                         "row, nothing a classifier can predict; choose a column to predict")
    if not chosen.keep and not headerless:
        raise SynthError(f"--target {args.target!r} is {chosen.kind} ({_comment(chosen.evidence, 120)}), which is "
                         "left out of the spec; choose a column to predict")
    return args.target, f"chosen with --target; {_utility_task(chosen)}"


def _utility_task(target) -> str:
    """How the gate's utility check will score `target` (a ColumnProfile), by its rule
    (`validation.utility.target_kind`, decided again there on the training rows): a number with more distinct
    values than integer codes have is a regression target, anything else a set of classes."""
    from synth.profile import DISCRETE_MAX_VALUES
    from validation.utility import MAX_CLASSES

    missing = (f"; its {target.missing:,} rows with no value are left out of that check" if target.missing else "")
    if target.kind in ("continuous", "discrete") and target.distinct > DISCRETE_MAX_VALUES:
        return (f"the utility check predicts it as a regression target (numeric with {target.distinct:,} distinct "
                f"values, more than {DISCRETE_MAX_VALUES}): R² of regressors trained on synthetic rows against the "
                f"same trained on real rows{missing}")
    pooled = f", the {MAX_CLASSES} most frequent each a class and the rest one" if target.distinct > MAX_CLASSES else ""
    return (f"the utility check predicts it as classes ({target.distinct:,} values{pooled}): F1 of classifiers "
            f"trained on synthetic rows against the same trained on real rows{missing}")


def _kept(p):
    from dataclasses import replace

    return replace(p, keep=True)


def _spec_text(args, name, out, layout, profiles, headerless, na_values, target, target_why,
               epochs, batch, rule, n_rows, proposals) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Pipeline spec written by `synth init` from {_comment(args.data)} "
        f"({n_rows:,} rows × {len(profiles)} columns), {stamp}.",
        f"# It runs as is:  synth run {_comment(out)}",
        f"# Quick try:      synth run {_comment(out)} --set generator.epochs=2 --set rows=1000",
        "# Each choice says why next to it (what the data showed); edit freely. Relative paths are read from the",
        "# directory you run synth in.",
        f"name: {_quote(name)}",
        f"description: {_quote(f'Synthetic {name}, from a spec written by synth init.')}",
        "",
        "source:",
        f"  path: {_quote(str(args.data))}",
    ]
    if layout is None:
        lines.append("  format: parquet")
    else:
        lines += ["  format: csv"]
        if layout.skip_rows:
            lines.append(f"  skip_rows: {layout.skip_rows}   # sniffed: {_comment(layout.skip_evidence)}")
        lines += [
            f"  header: {'true' if layout.header else 'false'}   # sniffed: {_comment(layout.header_evidence)}",
            f"  sep: {_quote(layout.sep)}   # sniffed: {_comment(layout.sep_evidence)}",
        ]
        if na_values:
            where = "; ".join(f"{p.name}: {', '.join(repr(m) for m in p.markers)}" for p in profiles if p.markers)
            lines.append(f"  na_values: [{', '.join(_quote(m) for m in na_values)}]   # missing markers found in the "
                         f"data ({_comment(where, 300)}); they apply to every column")
        else:
            lines.append("  na_values: []   # no missing marker found beyond what pandas reads as missing "
                         "(empty, NA, null, None, NaN ...)")
    if headerless:
        lines.append("  columns:   # the file has no header: a name for every field, in order (rename them freely)")
    else:
        lines.append("  columns:   # the columns to keep, from the header; the ones left out are commented with why")
    for p in profiles:
        what = _comment(f"{p.kind}: {p.evidence}", 300)
        if p.keep:
            lines.append(f"    - {_quote(p.name)}   # {what}")
        elif headerless:
            lines.append(f"    - {_quote(p.name)}   # {what}. Should be left out ({_comment(p.action, 160)}), but a "
                         "headerless CSV cannot drop a field: add a header line or convert to Parquet to leave it out")
        else:
            lines.append(f"    # - {_quote(p.name)}   # LEFT OUT, {what}; {_comment(p.action, 200)}")
    lines.append("")
    if target:
        lines.append(f"target: {_quote(target)}   # {_comment(target_why)}")
    else:
        lines.append(f"# target: COLUMN   # none suggested: {_comment(target_why)}")
    lines += [
        "seed: 0",
        f"holdout_fraction: {HOLDOUT_FRACTION}   # real rows kept away from the generator (privacy and utility checks)",
        "",
        "generator:",
        "  kind: tvae   # the default, minutes on a CPU; tab_ddpm is the most faithful and slower (it takes steps, "
        "not epochs); ctgan and gaussian_copula are the others (README, 'Which generator')",
    ]
    lines += [f"  # {chunk}" for chunk in _wrap(f"epochs from the training rows: {rule}.")]
    lines += [f"  epochs: {epochs}", f"  batch_size: {batch}", ""]
    lines.append("# validation: the default gate (README, 'The gate'); add thresholds here.")
    lines += _constraint_lines(proposals)
    lines += _todo_lines(profiles, headerless)
    lines += _privacy_lines(profiles, headerless)
    return "\n".join(lines) + "\n"


def _constraint_lines(proposals: list[tuple[str, str]]) -> list[str]:
    """The rules every real row keeps, commented out: the user keeps those that are rules and not coincidences."""
    if not proposals:
        return ["# constraints: none found that every row keeps (README, 'Constraints', for the kinds)."]
    lines = ["", "# Rules every row of the real table keeps (synth init looked for them). Uncomment the ones that are",
             "# real rules, not coincidences of this sample: each then holds in every synthetic row (README,",
             "# 'Constraints').",
             "# constraints:"]
    lines += [f"#   - {_quote(text)}   # {_comment(evidence, 200)}" for text, evidence in proposals]
    return lines


def _wrap(text: str, width: int = 110) -> list[str]:
    import textwrap

    return textwrap.wrap(_comment(text, 2_000), width)


def _todo_lines(profiles, headerless) -> list[str]:
    """What the spec cannot do for a column yet, for the user to do in the file."""
    names = [p.name for p in profiles if (p.keep or headerless) and any("keep_default_na" in n for n in p.todo)]
    if not names:
        return []
    text = ("words pandas reads as missing (NA, None, null ...) in text columns: if one is a real value there, the "
            f"spec cannot keep it yet (no keep_default_na key): recode it in the file: {', '.join(names)}")
    return ["", "# What this spec cannot do yet, per column:"] + [f"#   {chunk}" for chunk in _wrap(text, 106)]


def _privacy_lines(profiles, headerless) -> list[str]:
    bounded = [p for p in profiles if (p.keep or headerless) and p.bounds is not None
               and p.kind in ("discrete", "continuous")]
    lines = ["",
             "# Optional: train with differential privacy (README, 'Differential privacy'). The bounds below are the",
             "# data's ranges rounded outward to round numbers (0 or ±1, 2, 5 × 10^k): they look public, but they were",
             "# read from the data, so keep only those you could state without it (a codebook); the rest cost ε.",
             "# privacy:", "#   epsilon: 1.0"]
    if bounded:
        lines.append("#   bounds:")
        lines += [f"#     {_quote(p.name)}: [{_number(p.bounds[0])}, {_number(p.bounds[1])}]   # observed "
                  f"{_number(p.low)} to {_number(p.high)}" for p in bounded]
    return lines


def _write_checked(out: Path, text: str, force: bool) -> None:
    """Write the spec under a temporary name next to `out`, prove it (load_spec, load_table, check_against), and
    rename it into place; on any failure nothing is left behind."""
    import tempfile

    from synth.data import load_table
    from synth.errors import SynthError
    from synth.spec import load_spec

    descriptor, temporary = tempfile.mkstemp(prefix=".incoming-", suffix=".yaml", dir=out.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)
        spec = load_spec(temporary)
        spec.check_against(load_table(spec.source), str(out))
        if os.path.lexists(out) and not force:
            raise SynthError(f"--out {out}: appeared while profiling; pass --force to replace it, "
                             "or choose another name")
        os.replace(temporary, out)
    except OSError as err:
        _remove(temporary)
        raise SynthError(f"--out {out}: could not be written ({err.strerror or err}); nothing was written") from None
    except BaseException:
        _remove(temporary)
        raise


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
