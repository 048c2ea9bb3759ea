"""The rich menu (the six big buttons under the chat), defined in code, and its image.

``definition()`` is LINE's rich-menu JSON; ``AREAS`` the same buttons with their labels (the demo simulator draws
them); ``render_image()`` draws the 2500x1686 PNG. The shipped picture is ``bot/static/richmenu.png``, rendered
with a Japanese font (``kosodate richmenu render``); where no Japanese font is installed the image still renders,
with pictograms and English labels. ``kosodate richmenu deploy`` creates the menu through the gateway and makes it
every user's default. Drawing needs Pillow, an optional extra (``richmenu``): a deployment uploads the shipped picture.
"""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handlers.postback import encode

WIDTH, HEIGHT = 2500, 1686
COLUMNS, ROWS = 3, 2
IMAGE_PATH = Path(__file__).parent / "static" / "richmenu.png"
MAX_IMAGE_BYTES = 1024 * 1024  # LINE accepts rich-menu images up to 1 MB
MENU_NAME = "kosodate-main-v1"
PILLOW_HINT = (
    "drawing the rich-menu image needs Pillow, which this installation lacks: "
    "pip install 'kosodate-line-bot[richmenu]' (in a checkout: pip install -e '.[richmenu]')"
)


class PillowMissing(RuntimeError):
    """Pillow (the ``richmenu`` extra) is not installed; the message says how to install it."""


@dataclass(frozen=True)
class Area:
    key: str  # also names the pictogram
    label_ja: str
    label_en: str
    data: str  # postback data (an entry point: no state version)
    x: int
    y: int
    width: int
    height: int

    def bounds(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


def _grid(items: list[tuple[str, str, str, str]]) -> tuple[Area, ...]:
    cell_w, cell_h = WIDTH // COLUMNS, HEIGHT // ROWS
    areas = []
    for i, (key, ja, en, data) in enumerate(items):
        col, row = i % COLUMNS, i // COLUMNS
        # The last column and row take the pixels left over, so the areas cover the image exactly.
        width = WIDTH - col * cell_w if col == COLUMNS - 1 else cell_w
        height = HEIGHT - row * cell_h if row == ROWS - 1 else cell_h
        areas.append(Area(key, ja, en, data, col * cell_w, row * cell_h, width, height))
    return tuple(areas)


AREAS: tuple[Area, ...] = _grid(
    [
        ("events", "イベント一覧", "Events", encode("events", "start")),
        ("applications", "申込状況", "My applications", encode("applications", "start")),
        ("report", "紛失・盗難の報告", "Report loss", encode("report", "start")),
        ("profile", "登録情報", "My details", encode("profile", "start")),
        ("policy", "ポリシー", "Policy", encode("policy", "start")),
        ("help", "ヘルプ", "Help", encode("menu", "help")),
    ]
)


def definition() -> dict[str, Any]:
    """The rich menu as LINE's API takes it (POST /v2/bot/richmenu)."""
    return {
        "size": {"width": WIDTH, "height": HEIGHT},
        "selected": True,
        "name": MENU_NAME,
        "chatBarText": "メニュー / Menu",
        "areas": [
            {
                "bounds": area.bounds(),
                "action": {"type": "postback", "label": area.label_ja, "data": area.data, "displayText": area.label_ja},
            }
            for area in AREAS
        ],
    }


def image_png() -> bytes:
    """The picture to upload: the shipped one, or a fresh rendering when it is missing."""
    return IMAGE_PATH.read_bytes() if IMAGE_PATH.exists() else render_image()


# --- drawing -----------------------------------------------------------------------------------------------------
COLOURS = {
    "events": "#2e9e6a",
    "applications": "#3b7dd8",
    "report": "#d9534f",
    "profile": "#8a6bd1",
    "policy": "#e0a020",
    "help": "#5a6f80",
}
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
)
LATIN_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",)


def japanese_font() -> str | None:
    """A font file with Japanese glyphs, if the machine has one: a known Noto/IPA path, else what fontconfig lists."""
    try:
        listed = subprocess.run(["fc-list", ":lang=ja", "file"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    files = [line.split(":")[0].strip() for line in listed.splitlines() if line.strip()]
    known = [path for path in FONT_CANDIDATES if Path(path).exists()]
    sans = [path for path in files if "Sans" in path or "Gothic" in path]
    return next(iter([*known, *sans, *files]), None)


def render_image(font_path: str | None = "auto") -> bytes:
    """Draw the menu: one coloured tile per area, a pictogram, the Japanese label and the English one beneath.
    ``font_path``: a font with Japanese glyphs, "auto" to look for one, None for pictograms and English only."""
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as exc:
        raise PillowMissing(PILLOW_HINT) from exc

    if font_path == "auto":
        font_path = japanese_font()
    image = Image.new("RGB", (WIDTH, HEIGHT), "#ffffff")
    draw = ImageDraw.Draw(image)
    latin = next((p for p in LATIN_FONTS if Path(p).exists()), None)

    def font(size: int, japanese: bool):
        path = font_path if japanese else (latin or font_path)
        return ImageFont.truetype(path, size) if path else ImageFont.load_default(size)

    for area in AREAS:
        colour = COLOURS[area.key]
        box = (area.x + 12, area.y + 12, area.x + area.width - 12, area.y + area.height - 12)
        draw.rounded_rectangle(box, radius=48, fill=colour)
        cx, cy = area.x + area.width // 2, area.y + area.height // 2 - 150
        _pictogram(draw, area.key, cx, cy, colour)
        if font_path:
            label_font = font(112 if len(area.label_ja) <= 6 else 92, True)
            draw.text((cx, cy + 250), area.label_ja, font=label_font, fill="#ffffff", anchor="mm")
            draw.text((cx, cy + 380), area.label_en, font=font(64, False), fill="#ffffff", anchor="mm")
        else:
            draw.text((cx, cy + 290), area.label_en, font=font(100, False), fill="#ffffff", anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _pictogram(draw, key: str, cx: int, cy: int, colour: str) -> None:
    """Simple white pictograms, recognisable without any text."""
    white, w = "#ffffff", 22
    draw.ellipse((cx - 190, cy - 190, cx + 190, cy + 190), fill=_lighter(colour))
    if key == "events":  # a calendar
        draw.rounded_rectangle((cx - 110, cy - 90, cx + 110, cy + 110), radius=18, outline=white, width=w)
        draw.line((cx - 110, cy - 30, cx + 110, cy - 30), fill=white, width=w)
        for dx in (-55, 55):
            draw.line((cx + dx, cy - 125, cx + dx, cy - 65), fill=white, width=w)
        for dx in (-55, 0, 55):
            for dy in (20, 70):
                draw.ellipse((cx + dx - 13, cy + dy - 13, cx + dx + 13, cy + dy + 13), fill=white)
    elif key == "applications":  # a checklist
        draw.rounded_rectangle((cx - 100, cy - 120, cx + 100, cy + 120), radius=18, outline=white, width=w)
        for dy in (-55, 10, 75):
            draw.line((cx - 60, cy + dy, cx - 35, cy + dy + 22, cx - 5, cy + dy - 18), fill=white, width=14)
            draw.line((cx + 15, cy + dy, cx + 65, cy + dy), fill=white, width=14)
    elif key == "report":  # a key with an exclamation mark
        draw.ellipse((cx - 120, cy - 100, cx - 20, cy), outline=white, width=w)
        draw.line((cx - 40, cy - 20, cx + 60, cy + 80), fill=white, width=w)
        draw.line((cx + 30, cy + 50, cx + 5, cy + 75), fill=white, width=w)
        draw.line((cx + 95, cy - 120, cx + 95, cy - 10), fill=white, width=w + 6)
        draw.ellipse((cx + 80, cy + 25, cx + 110, cy + 55), fill=white)
    elif key == "profile":  # a person
        draw.ellipse((cx - 55, cy - 125, cx + 55, cy - 15), outline=white, width=w)
        draw.arc((cx - 120, cy, cx + 120, cy + 220), start=180, end=360, fill=white, width=w)
        draw.line((cx - 120, cy + 110, cx + 120, cy + 110), fill=white, width=w)
    elif key == "policy":  # a document
        draw.polygon(
            (cx - 95, cy - 125, cx + 45, cy - 125, cx + 95, cy - 75, cx + 95, cy + 125, cx - 95, cy + 125),
            outline=white,
            width=w,
        )
        for dy in (-45, 10, 65):
            draw.line((cx - 55, cy + dy, cx + 55, cy + dy), fill=white, width=14)
    else:  # help: a question mark
        draw.arc((cx - 75, cy - 130, cx + 75, cy + 20), start=180, end=80, fill=white, width=w + 6)
        draw.line((cx + 8, cy + 12, cx, cy + 55), fill=white, width=w + 6)
        draw.ellipse((cx - 18, cy + 85, cx + 18, cy + 121), fill=white)


def _lighter(colour: str) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#{:02x}{:02x}{:02x}".format(*(min(255, v + (255 - v) // 4) for v in (r, g, b)))
