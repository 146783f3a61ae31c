"""A restoration corpus about fresh people (restore.arms with source world-fresh): as many new people as P_hold,
outside every split of the world and sharing no name with a probed person, with biographies in the pre-training
format; the size and format of P_hold's corpus, about people no model has seen. Written by rule world_fresh_corpus
from the replicate's world block, with random streams of its own, so that the world's files stay as they were.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from iftforget.io import write_jsonl_atomic
from iftforget.world import (
    NAME_PARTS,
    SPLITS,
    Person,
    World,
    WorldConfig,
    build_world,
    disjoint_name_pools,
    max_people,
    split_sizes,
)
from iftforget.world_data import biographies
from iftforget.world_text import ATTRIBUTES, FIRST_NAMES, LAST_NAMES

FRESH_SOURCE = "world-fresh"
FRESH_SPLIT = "fresh"


def fresh_capacity(cfg: WorldConfig) -> int:
    """How many fresh people the name pools leave: with disjoint pools, the names of P_ift's part that no IFT person
    holds (so that no fresh person shares a first or last name with a probed person or P_hold); with shared pools,
    every name that no person of the world holds."""
    if cfg.name_pools == "shared":
        return max_people() - cfg.n_people - cfg.format_probe_people
    part, parts = NAME_PARTS["ift"], len(SPLITS)
    return len(FIRST_NAMES[part::parts]) * len(LAST_NAMES[part::parts]) - split_sizes(cfg)["ift"]


def check_fresh_capacity(cfg: WorldConfig, key: str) -> None:
    """Reject a world whose name pools cannot name the fresh people (as many as P_hold); the message names `key`
    (the arm's source) and what is allowed."""
    needed, capacity = split_sizes(cfg)["hold"], fresh_capacity(cfg)
    if needed > capacity:
        where = ("names of P_ift's part of the name pools that no IFT person holds" if cfg.name_pools == "disjoint"
                 else "names that no person of the world holds")
        raise ValueError(
            f"{key} = {FRESH_SOURCE!r} needs {needed} fresh people (as many as P_hold), but world.name_pools = "
            f"{cfg.name_pools!r} leaves {capacity} {where}; allowed: fewer people in P_ift or P_hold (world.n_people, "
            f"world.split), or no {FRESH_SOURCE} arm"
        )


def fresh_people(world: World) -> list[Person]:
    """As many new people as P_hold, outside every split of the world: each with a name that no person of the world
    holds (with disjoint pools from P_ift's part, so that none shares a first or last name with P_eval, the
    format-probe people or P_hold) and attribute values from the world's pools. Their own random streams leave the
    world's files as they were."""
    cfg = world.config
    check_fresh_capacity(cfg, "restore.arms.source")
    if cfg.name_pools == "shared":
        candidates = [f"{f} {l}" for f in FIRST_NAMES for l in LAST_NAMES]
    else:
        candidates = disjoint_name_pools(random.Random(f"{cfg.seed}-names"))[NAME_PARTS["ift"]]
    taken = {person.name for person in world.people + world.format_probe_people}
    names = random.Random(f"{cfg.seed}-fresh-names").sample([n for n in candidates if n not in taken],
                                                             len(world.in_split("hold")))
    rng = random.Random(f"{cfg.seed}-fresh-people")
    return [Person(name, FRESH_SPLIT, {attr: rng.choice(world.pools[attr]) for attr in ATTRIBUTES}) for name in names]


def fresh_corpus(world: World) -> list[dict[str, Any]]:
    """The restoration corpus of the world-fresh source: world.bios_per_person biographies of each fresh person in
    the pre-training format, shuffled; the size and format of P_hold's corpus, about people no model has seen."""
    seed = world.config.seed
    bio_rng = random.Random(f"{seed}-fresh-bios")
    records = [{"text": bio, "person": person.name} for person in fresh_people(world)
               for bio in biographies(person, world.config.bios_per_person, bio_rng)]
    random.Random(f"{seed}-fresh-order").shuffle(records)
    return records


def write_fresh_corpus(cfg: WorldConfig, path: Path) -> int:
    """Build the world and write the fresh people's corpus (JSON lines) to `path`; returns its biographies."""
    records = fresh_corpus(build_world(cfg))
    write_jsonl_atomic(path, records)
    return len(records)
