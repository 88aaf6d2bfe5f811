"""The public 2022 SEM depth data set ("DACON layout").

``simulation_data/SEM/Case_k/<bucket>/<name>_itr0.png`` (and ``_itr1``) pair with
``simulation_data/Depth/Case_k/<bucket>/<name>.png``; the structure ``<name>`` appears
under every case, so it is the group for splits. ``train/SEM/Depth_<d>/site_<id>/*.png``
holds real images with one average depth per site in ``train/average_depth.csv`` (no
maps), and ``test/SEM/*.png`` real images without labels.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from core.conventions import split_shot
from core.data.records import DatasetError, SampleRecord, format_paths, list_images

log = logging.getLogger(__name__)


def _child(folder: Path, name: str) -> Path | None:
    """``folder/name`` matched case-insensitively (``SEM``/``sem``), or None."""
    exact = folder / name
    if exact.is_dir():
        return exact
    if folder.is_dir():
        for c in sorted(folder.iterdir()):
            if c.is_dir() and c.name.lower() == name.lower():
                return c
    return None


def simulation_dir(root: str | Path) -> Path | None:
    """The ``simulation_data`` folder at or under ``root`` (one holding ``SEM/``), or None."""
    root = Path(root)
    sim = _child(root, "simulation_data")
    if sim is not None and _child(sim, "SEM") is not None:
        return sim
    sem = _child(root, "SEM")
    if sem is not None and any(
        c.is_dir() and c.name.lower().startswith("case_") for c in sem.iterdir()
    ):
        return root
    return None


def pair_folders(
    sem_dir: Path, depth_dir: Path | None, *, dacon: bool, what: str
) -> list[SampleRecord]:
    """Pair every image under ``sem_dir`` with the same relative stem under ``depth_dir``.

    A SEM stem may carry ``_itrN`` (the shot). With ``dacon=True`` the first two folder
    levels are the case and the bucket and the structure is the bare ``<name>``; otherwise
    the structure is the depth map's relative path without its suffix.
    Raises :class:`DatasetError` listing SEM images without a depth map and depth maps
    without any SEM image.
    """
    sems = list_images(sem_dir)
    if not sems:
        raise DatasetError(f"{sem_dir}: no SEM images found ({what})")
    if depth_dir is None or not depth_dir.is_dir():
        raise DatasetError(
            f"{sem_dir.parent}: no depth folder beside {sem_dir.name}/ ({what}); expected "
            f"{sem_dir.parent / 'Depth'}"
        )
    depth_index: dict[tuple[str, str], Path] = {}
    for d in list_images(depth_dir):
        rel = d.relative_to(depth_dir)
        depth_index.setdefault((rel.parent.as_posix(), d.stem), d)

    records: list[SampleRecord] = []
    missing: list[Path] = []
    used: set[Path] = set()
    for s in sems:
        rel = s.relative_to(sem_dir)
        name, shot = split_shot(s.stem)
        parent = rel.parent.as_posix()
        depth = depth_index.get((parent, name))
        if depth is None and shot is not None:  # "<name>_itr0" may itself be the depth stem
            depth = depth_index.get((parent, s.stem))
            if depth is not None:
                name, shot = s.stem, None
        if depth is None:
            missing.append(s)
            continue
        used.add(depth)
        parts = rel.parent.parts
        if dacon:
            case = parts[0] if len(parts) >= 1 else None
            bucket = parts[1] if len(parts) >= 2 else None
            structure = name
        else:
            case = bucket = None
            structure = (rel.parent / name).as_posix()
        records.append(
            SampleRecord(
                sem_path=s,
                depth_path=depth,
                structure=structure,
                case=case,
                bucket=bucket,
                shot=shot,
            )
        )
    unpaired = sorted(set(depth_index.values()) - used)
    problems: list[str] = []
    if missing:
        problems.append(
            f"{len(missing)} SEM image(s) have no depth map (expected "
            f"{depth_dir.name}/<same sub-folders>/<name>.png for <name>[_itrN].png):\n"
            + format_paths(missing)
        )
    if unpaired:
        problems.append(
            f"{len(unpaired)} depth map(s) have no SEM image:\n" + format_paths(unpaired)
        )
    if problems:
        raise DatasetError(f"{sem_dir.parent} ({what}): " + "\n".join(problems))
    return records


def find_dacon_pairs(root: str | Path) -> list[SampleRecord]:
    """Labelled pairs of the DACON simulation data, all cases, buckets and shots.

    ``root`` is the folder holding ``simulation_data/`` or ``simulation_data`` itself.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    sim = simulation_dir(root)
    if sim is None:
        raise DatasetError(
            f"{root}: no DACON simulation data (expected simulation_data/SEM/Case_k/<bucket>/"
            "<name>_itr0.png and simulation_data/Depth/Case_k/<bucket>/<name>.png)"
        )
    sem_dir = _child(sim, "SEM")
    assert sem_dir is not None
    return pair_folders(sem_dir, _child(sim, "Depth"), dacon=True, what="DACON simulation data")


def load_average_depth_csv(path: str | Path) -> dict[str, float]:
    """``train/average_depth.csv``: site key (e.g. ``depth_110_site_00000``) -> depth in DU.

    Two columns and an optional header row (``0,1`` in the DACON file, or names); every
    other row must hold a key and a number.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: average-depth CSV not found")
    out: dict[str, float] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            for lineno, row in enumerate(csv.reader(fh), start=1):
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) < 2:
                    raise DatasetError(
                        f"{path}: line {lineno}: expected 2 columns (site, depth), got {row!r}"
                    )
                key, value = row[0].strip(), row[1].strip()
                if lineno == 1 and not out and key.isdigit():
                    continue  # pandas' default header "0,1" (the DACON file has it)
                try:
                    depth = float(value)
                except ValueError:
                    if lineno == 1 and not out:  # header
                        continue
                    raise DatasetError(
                        f"{path}: line {lineno}: depth {value!r} is not a number"
                    ) from None
                if not key:
                    raise DatasetError(f"{path}: line {lineno}: empty site key")
                if key in out:
                    raise DatasetError(f"{path}: line {lineno}: site {key!r} listed twice")
                out[key] = depth
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not a text CSV ({exc})") from None
    if not out:
        raise DatasetError(f"{path}: no rows")
    return out


def site_key(depth_folder: str, site: str) -> str:
    """The average-depth CSV key of a site: ``("Depth_110", "site_00000")`` ->
    ``"depth_110_site_00000"``."""
    return f"{depth_folder}_{site}".lower()


def train_dir(root: str | Path) -> Path | None:
    """The real-data ``train`` folder (holding ``SEM/Depth_*``) at or under ``root``."""
    root = Path(root)
    for cand in (_child(root, "train"), root):
        if cand is None:
            continue
        sem = _child(cand, "SEM")
        if sem is not None and any(
            c.is_dir() and c.name.lower().startswith("depth_") for c in sem.iterdir()
        ):
            return cand
    return None


def find_dacon_train(root: str | Path) -> list[SampleRecord]:
    """Real DACON training images: no depth maps, the site id as structure, the site's
    average depth (DU) from ``average_depth.csv`` when listed there.

    ``root`` is the folder holding ``train/`` or ``train`` itself.
    """
    root = Path(root)
    tdir = train_dir(root)
    if tdir is None:
        raise DatasetError(f"{root}: no DACON real training data (train/SEM/Depth_<d>/site_<id>)")
    sem_dir = _child(tdir, "SEM")
    assert sem_dir is not None
    csv_path = tdir / "average_depth.csv"
    averages: dict[str, float] = {}
    if csv_path.is_file():
        averages = {k.lower(): v for k, v in load_average_depth_csv(csv_path).items()}
    else:
        log.info("%s: no average_depth.csv; real records carry no average depth", tdir)
    records: list[SampleRecord] = []
    bad: list[Path] = []
    unlisted: set[str] = set()
    for s in list_images(sem_dir):
        parts = s.relative_to(sem_dir).parts
        if len(parts) != 3:
            bad.append(s)
            continue
        bucket, site = parts[0], parts[1]
        avg = averages.get(site_key(bucket, site), averages.get(site.lower()))
        if averages and avg is None:
            unlisted.add(f"{bucket}/{site}")
        records.append(
            SampleRecord(
                sem_path=s,
                depth_path=None,
                structure=site,
                case=None,
                bucket=bucket,
                average_depth=avg,
            )
        )
    if bad:
        raise DatasetError(
            f"{sem_dir}: {len(bad)} image(s) not at SEM/Depth_<d>/site_<id>/<file>:\n"
            + format_paths(bad)
        )
    if not records:
        raise DatasetError(f"{sem_dir}: no SEM images found (DACON real training data)")
    if unlisted:
        log.info("%s: %d site(s) not listed in average_depth.csv", tdir, len(unlisted))
    return records
