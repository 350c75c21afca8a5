"""Layout checks the page tests share: readable diagrams (zoom, current step in view, watermark on top,
pan and zoom), table cells that stay inside their table, buttons level with their row's text."""
from __future__ import annotations

from playwright.sync_api import expect

MIN_ZOOM = 0.8            # lanes/diagram.js's MIN_ZOOM
MIN_LABEL_PX = 8.5        # bpmn-js draws task labels at 12px, external labels (events, gateways) at 11px


def box(locator) -> dict:
    value = locator.bounding_box()
    assert value is not None, f"{locator} is not rendered"
    return value


def inside(inner: dict, outer: dict, slack: float = 0.5) -> bool:
    return (inner["x"] >= outer["x"] - slack and inner["y"] >= outer["y"] - slack
            and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
            and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack)


def zoom(diagram) -> float:
    return diagram.evaluate("c => c.lanesViewer.get('canvas').zoom()")


def viewbox(diagram) -> dict:
    return diagram.evaluate("c => { const v = c.lanesViewer.get('canvas').viewbox();"
                            " return {x: v.x, y: v.y, scale: v.scale}; }")


def watermark_on_top(diagram) -> bool:
    """elementFromPoint at the bpmn.io watermark's centre hits the watermark (nothing covers it)."""
    return diagram.locator(".bjs-powered-by").evaluate("""mark => {
        const b = mark.getBoundingClientRect();
        const hit = document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2);
        return b.width > 0 && b.height > 0 && hit !== null && mark.contains(hit);
    }""")


def check_readable_diagram(diagram, focus_ids=()):
    """The rendered diagram is zoomed to at least MIN_ZOOM with readable labels, each element of `focus_ids`
    (the current step) lies within the visible panel, and the bpmn.io watermark is visible and on top."""
    expect(diagram).to_have_attribute("data-rendered", "true")
    scale = zoom(diagram)
    assert scale >= MIN_ZOOM - 1e-3, f"zoom {scale} < {MIN_ZOOM}"
    panel = box(diagram)
    labels = diagram.locator(".djs-element text.djs-label")
    sizes = labels.evaluate_all("""texts => texts.map(t => {
        const r = t.getBoundingClientRect(); return {h: r.height, fontPx: parseFloat(getComputedStyle(t).fontSize)};
    }).filter(s => s.h > 0)""")
    assert sizes, "no labels drawn"
    # a label's one line of text, rendered: its font size (diagram units) times the zoom
    smallest = min(s["fontPx"] for s in sizes) * scale
    assert smallest >= MIN_LABEL_PX, f"labels drawn at {smallest:.1f}px"
    for element_id in focus_ids:
        shape = box(diagram.locator(f".djs-element[data-element-id='{element_id}'] .djs-visual"))
        assert inside(shape, panel), (element_id, shape, panel)
        for badge in diagram.locator(f".djs-overlays[data-container-id='{element_id}'] .lanes-badge").all():
            assert inside(box(badge), panel), (element_id, "badge", box(badge), panel)
    expect(diagram.locator(".bjs-powered-by")).to_be_visible()
    assert inside(box(diagram.locator(".bjs-powered-by")), panel)
    assert watermark_on_top(diagram)


def check_pan_and_zoom(page, diagram):
    """Dragging the canvas moves the view; the zoom buttons and ctrl+wheel zoom; Reset goes back."""
    start = viewbox(diagram)
    panel = box(diagram)
    x, y = panel["x"] + panel["width"] * 0.3, panel["y"] + panel["height"] * 0.85
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y - 20, steps=6)
    page.mouse.up()
    moved = viewbox(diagram)
    assert abs(moved["x"] - start["x"]) > 10, (start, moved)
    tools = page.locator(f"[data-diagram-zoom='{diagram.get_attribute('id')}']")
    expect(tools).to_be_visible()
    tools.get_by_role("button", name="Zoom in").click()
    assert zoom(diagram) > start["scale"] + 0.05
    tools.get_by_role("button", name="Zoom out").click()
    tools.get_by_role("button", name="Zoom out").click()
    assert zoom(diagram) < start["scale"] - 0.05
    page.mouse.move(panel["x"] + panel["width"] / 2, panel["y"] + panel["height"] / 2)
    before = zoom(diagram)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -200)
    page.keyboard.up("Control")
    page.wait_for_function("([c, z]) => c.lanesViewer.get('canvas').zoom() > z + 0.01",
                           arg=[diagram.element_handle(), before])
    tools.get_by_role("button", name="Reset").click()
    back = viewbox(diagram)
    assert all(abs(back[k] - start[k]) < 0.5 for k in ("x", "y")) and abs(back["scale"] - start["scale"]) < 1e-3
    assert watermark_on_top(diagram)


def check_level_with_row(row, button_name: str, text_cell: int = 0):
    """The button's vertical centre is within 2px of the vertical centre of its row's text (the first line of
    cell `text_cell`)."""
    button = box(row.get_by_role("button", name=button_name))
    text = row.locator("td").nth(text_cell).evaluate("""cell => {
        const range = document.createRange(); range.selectNodeContents(cell);
        const first = range.getClientRects()[0]; return {y: first.y, height: first.height};
    }""")
    button_centre = button["y"] + button["height"] / 2
    text_centre = text["y"] + text["height"] / 2
    assert abs(button_centre - text_centre) <= 2, (button_name, button_centre, text_centre)
