"""The synthetic world's people: who they are (a seeded draw of names and attribute values from the pools of
`iftforget.world_text`), which split each belongs to (P_ift, P_eval, P_hold, and the format-probe people), and the
checks of a world block before anything is drawn. What is written about them is `iftforget.world_data`'s; the people
outside every split of a restoration arm are `iftforget.world_fresh`'s.

Every file the rest of the workflow trains or evaluates on is generated from one seed, so the knowledge that
pre-training stores, IFT may destroy and restoration may re-expose is known item by item.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any

from iftforget.settings import from_block
from iftforget.world_text import ATTRIBUTES, CITIES, EMPLOYERS, FIRST_NAMES, LAST_NAMES, MAJORS, MONTHS, UNIVERSITIES

SPLITS = ("ift", "eval", "hold")
# With world.name_pools = disjoint, first and last names are dealt into three parts: P_ift's, P_eval's, and one for
# P_hold and the format-probe people, so that no probed person shares a first or last name with an IFT person.
NAME_PARTS = {"ift": 0, "eval": 1, "hold": 2, "format_probe": 2}


@dataclass(frozen=True)
class WorldConfig:
    """Sizes and seed of the world (config block `world`; the defaults are the schema's)."""

    seed: int
    n_people: int
    split: dict[str, float]
    bios_per_person: int
    format_probe_people: int
    mc_choices: int
    name_pools: str  # disjoint | shared

    @classmethod
    def from_config(cls, block: dict[str, Any]) -> "WorldConfig":
        return from_block(cls, block)


@dataclass(frozen=True)
class Person:
    name: str
    split: str
    attributes: dict[str, str]


def max_people() -> int:
    return len(FIRST_NAMES) * len(LAST_NAMES)


def split_sizes(cfg: WorldConfig) -> dict[str, int]:
    """People per split; rounding leftovers go to the IFT split so that the sizes sum to n_people."""
    sizes = {name: int(cfg.n_people * cfg.split[name]) for name in ("eval", "hold")}
    sizes["ift"] = cfg.n_people - sizes["eval"] - sizes["hold"]
    return {"ift": sizes["ift"], "eval": sizes["eval"], "hold": sizes["hold"]}


def check_world_config(cfg: WorldConfig) -> None:
    """Reject a world that cannot be built before anything is generated; the message names the config key and
    what is allowed."""
    if set(cfg.split) != set(SPLITS):
        raise ValueError(f"world.split has the keys {sorted(cfg.split)}; allowed: exactly {list(SPLITS)}")
    if abs(sum(cfg.split.values()) - 1.0) > 1e-6:
        raise ValueError(f"world.split fractions sum to {sum(cfg.split.values()):.4f}; allowed: fractions summing to 1")
    if cfg.n_people + cfg.format_probe_people > max_people():
        raise ValueError(
            f"world.n_people + world.format_probe_people = {cfg.n_people} + {cfg.format_probe_people} is too large; "
            f"allowed: at most {max_people()} in total (the distinct names the name pools make)"
        )
    empty = [name for name, size in split_sizes(cfg).items() if size < 1]
    if empty:
        enough = next((n for n in range(cfg.n_people, max_people() + 1)
                       if min(split_sizes(dataclasses.replace(cfg, n_people=n)).values()) >= 1), None)
        raise ValueError(
            f"world.split.{empty[0]} = {cfg.split[empty[0]]} gives no person with world.n_people = {cfg.n_people}; "
            f"allowed: world.n_people >= {enough} with these fractions, or a larger world.split.{empty[0]}"
        )
    if cfg.name_pools == "disjoint":
        capacity = len(FIRST_NAMES) // len(SPLITS) * (len(LAST_NAMES) // len(SPLITS))
        needed = {"ift": split_sizes(cfg)["ift"], "eval": split_sizes(cfg)["eval"],
                  "hold and world.format_probe_people": split_sizes(cfg)["hold"] + cfg.format_probe_people}
        for part, count in needed.items():
            if count > capacity:
                raise ValueError(
                    f"world.name_pools = 'disjoint' leaves {capacity} names for {part}, but {count} people need them; "
                    "allowed: fewer people in that split, or world.name_pools = 'shared'"
                )
    smallest = min(len(pool) for pool in _pools(random.Random(0)).values())
    if cfg.mc_choices > smallest:
        raise ValueError(f"world.mc_choices = {cfg.mc_choices} is not allowed; allowed: at most {smallest} (the "
                         "smallest attribute pool)")


BIRTH_DATES = 50


def _birth_dates(rng: random.Random) -> list[str]:
    # A fixed pool, like the other attributes, so that multiple choice draws distractors from it; every month, day
    # and year equally likely (a pool taken from the front of a sorted list would hold a few months only).
    dates: list[str] = []
    while len(dates) < BIRTH_DATES:
        date = f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(1950, 1999)}"
        if date not in dates:
            dates.append(date)
    return dates


def _pools(rng: random.Random) -> dict[str, list[str]]:
    return {
        "birth_date": _birth_dates(rng),
        "birth_city": list(CITIES),
        "university": list(UNIVERSITIES),
        "major": list(MAJORS),
        "employer": list(EMPLOYERS),
        "employer_city": list(CITIES),
    }


@dataclass
class World:
    config: WorldConfig
    pools: dict[str, list[str]]
    people: list[Person]
    format_probe_people: list[Person]

    def in_split(self, split: str) -> list[Person]:
        return [p for p in self.people if p.split == split]


def build_world(cfg: WorldConfig) -> World:
    """Draw the people of the world and their attributes; same seed, same world."""
    check_world_config(cfg)
    rng = random.Random(cfg.seed)
    pools = _pools(random.Random(cfg.seed + 1))
    sizes = split_sizes(cfg)
    labels = ["ift"] * sizes["ift"] + ["eval"] * sizes["eval"] + ["hold"] * sizes["hold"]
    labels += ["format_probe"] * cfg.format_probe_people
    chosen = _names(cfg, labels, random.Random(f"{cfg.seed}-names"))
    everyone = [Person(name, label, {attr: rng.choice(pools[attr]) for attr in ATTRIBUTES})
                for name, label in zip(chosen, labels, strict=True)]
    people = [person for person in everyone if person.split != "format_probe"]
    return World(cfg, pools, people, [person for person in everyone if person.split == "format_probe"])


def _names(cfg: WorldConfig, labels: list[str], rng: random.Random) -> list[str]:
    """A distinct name for each label (split); from the split's own part of the name pools if they are disjoint."""
    if cfg.name_pools == "shared":
        return rng.sample([f"{f} {l}" for f in FIRST_NAMES for l in LAST_NAMES], len(labels))
    pools = disjoint_name_pools(rng)
    drawn = {part: rng.sample(pool, sum(NAME_PARTS[label] == part for label in labels)) for part, pool in pools.items()}
    return [drawn[NAME_PARTS[label]].pop() for label in labels]


def disjoint_name_pools(rng: random.Random) -> dict[int, list[str]]:
    """The full names of each part of the disjoint name pools (NAME_PARTS), the first and last names shuffled by
    `rng`; a fresh generator of the world's name seed gives the parts that `_names` drew from."""
    firsts, lasts = list(FIRST_NAMES), list(LAST_NAMES)
    rng.shuffle(firsts)
    rng.shuffle(lasts)
    parts = len(SPLITS)
    return {part: [f"{f} {l}" for f in firsts[part::parts] for l in lasts[part::parts]] for part in range(parts)}
