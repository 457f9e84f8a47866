"""Class names: Animals-10's Italian folder names and their English translations."""

from __future__ import annotations

# Animals-10 (Kaggle alessiocorrado99/animals10) names its folders in Italian. Kaggle's own
# translate.py lacks "ragno", so the table is written out here in full.
ITALIAN_TO_ENGLISH: dict[str, str] = {
    "cane": "dog",
    "cavallo": "horse",
    "elefante": "elephant",
    "farfalla": "butterfly",
    "gallina": "chicken",
    "gatto": "cat",
    "mucca": "cow",
    "pecora": "sheep",
    "ragno": "spider",
    "scoiattolo": "squirrel",
}

ANIMALS10_CLASSES: tuple[str, ...] = tuple(sorted(ITALIAN_TO_ENGLISH.values()))


def english_class_name(folder: str) -> str | None:
    """Return the English Animals-10 class of a folder name (Italian or English), else None."""
    key = folder.strip().lower()
    if key in ITALIAN_TO_ENGLISH:
        return ITALIAN_TO_ENGLISH[key]
    if key in ANIMALS10_CLASSES:
        return key
    return None
