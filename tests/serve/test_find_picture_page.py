"""Find by picture on the page, in a real browser (Debian's headless Chromium): a picture pasted
into the search box (a clipboard `DataTransfer`, as Ctrl-V gives it) shows as a chip, Enter
finds where it is shown and a click on the hit plays from there; a picture dropped on the box
(highlighted while it is dragged over) that no video shows finds nothing; the chip's x clears
it and words search again. A screenshot is kept (tests/artifacts/serve-find-picture.png)."""

from __future__ import annotations

import base64

import pytest

from helpers.pictures import png
from helpers.serving import chromium, console_errors, running, screenshot, wait_for

from test_find_picture_api import EVENT, caption_crop, elsewhere

PLAYER = "document.getElementById('player')"
# JS: a File from base64 `b64` named `name`, in a DataTransfer (what a paste or a drop holds)
TRANSFER = """const [b64, name] = arguments;
const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const transfer = new DataTransfer();
transfer.items.add(new File([bytes], name, { type: "image/png" }));
const init = { bubbles: true, cancelable: true };
"""


def paste(driver, picture: bytes, name: str) -> None:
    driver.execute_script(TRANSFER + """document.getElementById("query").dispatchEvent(
        new ClipboardEvent("paste", { clipboardData: transfer, ...init }));""",
                          base64.b64encode(picture).decode(), name)


def drag_over(driver, picture: bytes, name: str) -> bool:
    """Drag the picture over the search box (not dropped yet): whether the box is highlighted."""
    return driver.execute_script(TRANSFER + """const box = document.getElementById("search-box");
    for (const type of ["dragenter", "dragover"])
      box.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, ...init }));
    window.dragged = transfer;
    return box.classList.contains("dragover");""", base64.b64encode(picture).decode(), name)


def drop(driver) -> None:
    driver.execute_script("""document.getElementById("search-box").dispatchEvent(new DragEvent(
        "drop", { dataTransfer: window.dragged, bubbles: true, cancelable: true }));""")


@pytest.mark.slow
def test_a_pasted_or_dropped_picture_is_found_on_the_page(library, service):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    service.indexed(service.entry("event.mp4"))
    crop = png(caption_crop(library))
    with running(service) as server, chromium() as driver:
        driver.get(f"{server.url}/")
        wait_for(driver, f"{PLAYER}.readyState >= 1", what="the first video loads")

        paste(driver, crop, "image.png")
        wait_for(driver, "!document.getElementById('picture-chip').hidden", what="the chip")
        assert driver.find_element(By.ID, "picture-name").text == "pasted picture"
        driver.find_element(By.ID, "query").send_keys(Keys.ENTER)
        wait_for(driver, "document.querySelectorAll('#hits a.hit[data-kind=picture]').length > 0",
                 what="picture hits")
        (item,) = driver.find_elements(By.CSS_SELECTOR, "#hits li")
        assert "event.mp4" in item.text and "the picture 'pasted picture' (" in item.text
        assert driver.find_element(By.ID, "hits-note").text == "pasted picture is shown once"
        link = item.find_element(By.CSS_SELECTOR, "a.hit")
        hit_s = float(link.get_attribute("data-time"))
        assert EVENT[0] <= hit_s <= EVENT[0] + 0.6
        wait_for(driver, "document.getElementById('picture-thumb').naturalWidth > 0",
                 what="the chip's thumbnail")
        screenshot(driver, "serve-find-picture")
        link.click()
        wait_for(driver, f"{PLAYER}.readyState >= 2 && !{PLAYER}.seeking && "
                 f"Math.abs({PLAYER}.currentTime - {hit_s}) <= 0.5",
                 what=f"the player at {hit_s} s after the hit's click")

        # a picture dropped on the box replaces it; one no video shows finds nothing
        assert drag_over(driver, png(elsewhere()), "holiday.png")
        drop(driver)
        wait_for(driver, "document.getElementById('picture-name').textContent === 'holiday.png'",
                 what="the dropped picture's chip")
        assert not driver.execute_script(
            "return document.getElementById('search-box').classList.contains('dragover')")
        driver.find_element(By.CSS_SELECTOR, "#search-form button").click()
        wait_for(driver, "document.getElementById('hits-note').textContent === "
                 "'No frame shows holiday.png'", what="no hit")
        assert driver.find_elements(By.CSS_SELECTOR, "#hits li") == []

        # the chip's x clears the picture: words search again
        driver.find_element(By.ID, "picture-clear").click()
        assert driver.execute_script("return document.getElementById('picture-chip').hidden")
        driver.find_element(By.ID, "query").send_keys("fire alarm test", Keys.ENTER)
        wait_for(driver, "document.getElementById('hits').textContent.includes("
                 "'FIRE ALARM TEST')", what="the words' hits")
        assert not driver.find_elements(By.CSS_SELECTOR, "#hits a.hit[data-kind=picture]")
        errors = console_errors(driver)
        assert errors == [], errors
