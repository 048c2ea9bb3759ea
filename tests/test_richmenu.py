"""The rich menu: a valid LINE definition whose buttons start the right flows, an image of the right size, and
``kosodate richmenu deploy`` creating it through the gateway."""

from __future__ import annotations

import io

from linebot.v3.messaging import RichMenuRequest
from PIL import Image

from bot import richmenu
from bot.cli import cli
from handlers.postback import decode

ENTRIES = {
    "events": ("events", "start"),
    "applications": ("applications", "start"),
    "report": ("report", "start"),
    "profile": ("profile", "start"),
    "policy": ("policy", "start"),
    "help": ("menu", "help"),
}


def test_the_definition_is_what_line_accepts():
    definition = richmenu.definition()
    RichMenuRequest.from_dict(definition)  # the SDK's own model validates the shape
    assert definition["size"] == {"width": 2500, "height": 1686}
    assert 1 <= len(definition["chatBarText"]) <= 14 and len(definition["name"]) <= 300
    for area in definition["areas"]:
        action = area["action"]
        assert action["type"] == "postback" and len(action["data"]) <= 300 and len(action["label"]) <= 20
        assert len(action["displayText"]) <= 300


def test_each_button_is_an_entry_point_of_its_flow():
    assert {a.key: (decode(a.data).flow, decode(a.data).action) for a in richmenu.AREAS} == ENTRIES
    assert all(decode(a.data).version is None for a in richmenu.AREAS), "menu buttons never go stale"
    labels = {a.key: (a.label_ja, a.label_en) for a in richmenu.AREAS}
    assert labels["report"] == ("紛失・盗難の報告", "Report loss") and labels["help"] == ("ヘルプ", "Help")


def test_the_areas_tile_the_image_exactly():
    covered = sum(a.width * a.height for a in richmenu.AREAS)
    assert covered == richmenu.WIDTH * richmenu.HEIGHT
    for a in richmenu.AREAS:
        assert 0 <= a.x and a.x + a.width <= richmenu.WIDTH and 0 <= a.y and a.y + a.height <= richmenu.HEIGHT
    for i, a in enumerate(richmenu.AREAS):
        for b in richmenu.AREAS[i + 1 :]:
            assert a.x + a.width <= b.x or b.x + b.width <= a.x or a.y + a.height <= b.y or b.y + b.height <= a.y


def test_the_shipped_image_has_the_menu_size_and_is_small_enough():
    png = richmenu.IMAGE_PATH.read_bytes()
    assert len(png) <= richmenu.MAX_IMAGE_BYTES
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.size == (2500, 1686)


def test_the_image_renders_without_a_japanese_font_too():
    png = richmenu.render_image(font_path=None)
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (2500, 1686)
        # each tile carries its colour, so the six areas are visible without any text
        for area in richmenu.AREAS:
            pixel = image.getpixel((area.x + 60, area.y + area.height - 60))
            assert pixel == tuple(int(richmenu.COLOURS[area.key][i : i + 2], 16) for i in (1, 3, 5))


def test_deploy_creates_the_menu_uploads_the_image_and_makes_it_the_default(runner, line):
    result = runner.invoke(cli, ["richmenu", "deploy"])
    assert result.exit_code == 0, result.output
    assert len(line.rich_menus) == 1
    menu_id, menu = next(iter(line.rich_menus.items()))
    assert menu_id in result.output and line.default_rich_menu == menu_id
    assert menu["definition"]["areas"] == richmenu.definition()["areas"]
    assert menu["image"] == richmenu.IMAGE_PATH.read_bytes()


def test_render_writes_a_png(runner, tmp_path):
    target = tmp_path / "menu.png"
    result = runner.invoke(cli, ["richmenu", "render", "--out", str(target)])
    assert result.exit_code == 0, result.output
    with Image.open(target) as image:
        assert image.size == (2500, 1686)


def test_tapping_the_menu_buttons_in_a_chat(chat):
    parent = chat()
    parent.follow()
    by_key = {a.key: a.data for a in richmenu.AREAS}
    helped = parent.texts(parent.tap(by_key["help"]))
    assert "「ご登録」の途中です" in helped and "ご本人について教えてください" in helped, "help where the parent is"
    refused = parent.texts(parent.tap(by_key["profile"]))
    assert "まだご登録がありません" in refused and "ご本人について教えてください" in refused, "registration goes on"
    parent.say("やめる")
    assert "地域子育て支援課" in parent.texts(parent.tap(by_key["help"]))
    assert "WEB会議サービス運用ポリシー" in parent.texts(parent.tap(by_key["policy"]))
