"""A tiny two-topic catalog for text-model tests: users stay within one topic, items have distinct texts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmrec.data import Dataset, Interactions, ItemTable

SPACE = [
    "Rocket launch to Mars: a space exploration documentary",
    "Astronauts aboard the International Space Station",
    "The Moon landing: Apollo 11 astronauts",
    "Black holes and galaxies: a journey through the universe",
    "Space shuttle missions and orbital rockets",
    "Telescopes looking at distant stars and nebulae",
    "Life of an astronaut in zero gravity",
    "Exploring the planets of the solar system",
]
COOKING = [
    "Italian pasta recipes: cooking fresh spaghetti",
    "Baking bread and sourdough at home",
    "French pastry cookbook: croissants and tarts",
    "Quick vegetarian dinners for the family kitchen",
    "Grilling steak and barbecue sauces",
    "Japanese sushi and ramen cooking class",
    "Chocolate desserts and cake baking",
    "Spices of Indian curry cooking",
]
NEW_SPACE = "Astronauts launch a rocket to explore a new planet in outer space"
NEW_COOKING = "Homemade pizza dough and tomato sauce recipes"


def topic_dataset(n_users: int = 40, per_user: int = 10, seed: int = 0) -> Dataset:
    """Users 0..n/2-1 watch space items, the others cooking items, in random order."""
    rng = np.random.default_rng(seed)
    titles = SPACE + COOKING
    users, items, times = [], [], []
    for u in range(n_users):
        pool = np.arange(8) if u < n_users // 2 else np.arange(8, 16)
        for t, i in enumerate(rng.choice(pool, size=per_user, replace=True)):
            users.append(u)
            items.append(int(i))
            times.append(1000 * t + u)
    frame = pd.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(len(titles))],
            "title": titles,
            "year": np.arange(len(titles), dtype=np.float64) + 1990,
            "genres": [["space", "science"] if i < 8 else ["food"] for i in range(len(titles))],
        }
    )
    inter = Interactions(
        user=np.array(users),
        item=np.array(items),
        timestamp=np.array(times),
        n_users=n_users,
        n_items=len(titles),
    )
    return Dataset(
        name="topics",
        domain="synthetic",
        interactions=inter,
        items=ItemTable(
            frame, text_fields=("title",), numeric_fields=("year",), categorical_fields=("genres",)
        ),
        user_ids=np.array([f"u{u}" for u in range(n_users)]),
        item_ids=frame["item_id"].to_numpy(),
    )
