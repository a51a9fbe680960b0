"""The web page in a real browser: headless Chromium (Debian's package) driven by Selenium against
the real `facenet serve` process on a free loopback port. Screenshots go to out/browser-screens/.

Flows: the key prompt (a wrong key shows the API's error); identify a photo (faces boxed, names or
"unknown", distances); enrol a face by name, then identify shows the name; the people page
(rename, merge, delete); cluster review (LFW photos of two people, clusters, name one, move a face
out, merge, split); compare two photos against the threshold."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_util import console_errors, need_browser, shot, start_chromium, start_server, wait_for  # noqa: E402


def test_page_is_served_from_the_package_with_a_strict_policy():
    """Without a browser: mount_pages serves / and /static from the package, no key needed, never
    outside static/, not in the OpenAPI schema; every module the page imports exists."""
    import re

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from facenet.service.pages import mount_pages, static_dir

    app = FastAPI()
    mount_pages(app)
    client = TestClient(app)
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere
    js = client.get("/static/js/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    for bad in ("/static/../pages.py", "/static/%2e%2e/pages.py", "/static/nope.js"):
        assert client.get(bad).status_code == 404, bad
    assert app.openapi()["paths"] == {}
    root = static_dir()
    for f in root.joinpath("js").iterdir():
        for module in re.findall(r'from "\./([\w.]+)"', f.read_text()):
            assert root.joinpath("js", module).is_file(), (f.name, module)
        assert "http://" not in f.read_text() and "https://" not in f.read_text(), f.name


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    from facenet.models.registry import model_config

    need_browser()
    # Cluster jobs at SFace's verification threshold (calibrated on LFW View 1), so the cluster
    # review does not hang on the clustering calibration shipped with facenet.cluster.
    threshold = model_config("sface").threshold
    s = start_server(tmp_path_factory.mktemp("browser-server"), "--cluster-threshold", str(threshold))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def driver(server):
    d = start_chromium()
    yield d
    d.quit()


def css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def texts(driver, selector: str) -> list[str]:
    return [e.text for e in css(driver, selector)]


def open_page(driver, server, view: str) -> None:
    """Load the page on `view` with the admin key already given (sessionStorage)."""
    driver.get(f"{server.url}/#{view}")
    driver.execute_script("sessionStorage.setItem('facenet.key', arguments[0]);", server.key)
    driver.get(f"{server.url}/?v={view}#{view}")
    wait_for(driver, lambda d: not d.find_element("id", "app").get_attribute("hidden"), "the page behind the key")


def upload(driver, selector: str, *paths: Path) -> None:
    css(driver, selector)[0].send_keys("\n".join(str(p) for p in paths))


def drop(driver, zone: str, path: Path) -> None:
    """Drop a file on `zone` as a user dragging it from the desktop would (a DataTransfer drop event)."""
    driver.execute_script("const i = document.createElement('input'); i.type = 'file'; i.id = 'drop-source'; document.body.append(i);")
    css(driver, "#drop-source")[0].send_keys(str(path))
    driver.execute_script(
        """const src = document.getElementById('drop-source'); const dt = new DataTransfer();
           for (const f of src.files) dt.items.add(f);
           document.querySelector(arguments[0]).dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
           src.remove();""", zone)


def side_by_side(a: Path, b: Path, out: Path) -> Path:
    """Two LFW photos in one picture: a group photo with two faces, `a` on the left."""
    ia, ib = Image.open(a).convert("RGB"), Image.open(b).convert("RGB")
    canvas = Image.new("RGB", (ia.width + ib.width, max(ia.height, ib.height)), "white")
    canvas.paste(ia, (0, 0))
    canvas.paste(ib, (ia.width, 0))
    canvas.save(out, quality=92)
    return out


def face_items(driver) -> list[dict]:
    """The identify view's faces, left to right: name, distance text, list index."""
    return driver.execute_script(
        """return [...document.querySelectorAll('#identify-result .face-box')].map((b) => ({
             i: Number(b.dataset.face), left: parseFloat(b.style.left),
             label: [...b.querySelector('.face-label').childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join(''),
             name: document.querySelector(`.face-item[data-face="${b.dataset.face}"] .face-name`).textContent,
           })).sort((p, q) => p.left - q.left);"""
    )


def identify(driver, photo: Path, n_faces: int) -> list[dict]:
    upload(driver, "#identify-file", photo)
    wait_for(driver, lambda d: photo.name in d.find_element("id", "identify-status").text and "found" in d.find_element("id", "identify-status").text,
             f"faces of {photo.name}")
    faces = face_items(driver)
    assert len(faces) == n_faces, f"{photo.name}: {len(faces)} boxes on the page, expected {n_faces}"
    return faces


def enrol(driver, index: int, name: str) -> None:
    from selenium.webdriver.common.by import By

    item = css(driver, f'.face-item[data-face="{index}"]')[0]
    field = item.find_element(By.TAG_NAME, "input")
    field.clear()
    field.send_keys(name)
    item.find_element(By.TAG_NAME, "button").click()
    wait_for(driver, lambda d: any(f["i"] == index and f["name"] == name for f in face_items(d)), f"face {index} named {name}")


def card(driver, name: str):
    found = css(driver, f'.person[data-name="{name}"]')
    return found[0] if found else None


def people(driver) -> dict[str, int]:
    """The people page: name -> number of face thumbnails shown (once they have loaded)."""
    return driver.execute_script(
        """return Object.fromEntries([...document.querySelectorAll('.person')].map((c) =>
             [c.dataset.name, [...c.querySelectorAll('img.thumb')].filter((i) => i.complete && i.naturalWidth > 0).length]));"""
    )


@pytest.mark.slow
@pytest.mark.data
def test_identify_enrol_and_people(server, driver, lfw_dir: Path, tmp_path: Path):
    from selenium.webdriver.common.by import By

    powell, serena = lfw_dir / "Colin_Powell", lfw_dir / "Serena_Williams"
    group = side_by_side(powell / "Colin_Powell_0001.jpg", serena / "Serena_Williams_0001.jpg", tmp_path / "group.jpg")

    # The key prompt: a wrong key is refused with the API's own error message, the right one opens the page.
    driver.get(server.url + "/")
    wait_for(driver, lambda d: d.find_element("id", "key-panel").is_displayed(), "the key prompt")
    driver.find_element("id", "key-input").send_keys("fn_not-a-key")
    driver.find_element(By.CSS_SELECTOR, "#key-form button").click()
    wait_for(driver, lambda d: d.find_element("id", "error").is_displayed(), "the error banner")
    assert "401" in driver.find_element("id", "error").text
    shot(driver, "01-wrong-key")
    driver.find_element("id", "key-input").clear()
    driver.find_element("id", "key-input").send_keys(server.key)
    driver.find_element(By.CSS_SELECTOR, "#key-form button").click()
    wait_for(driver, lambda d: d.find_element("id", "app").is_displayed(), "the page behind the key")
    assert not driver.find_element("id", "error").is_displayed()
    assert driver.execute_script("return sessionStorage.getItem('facenet.key')") == server.key

    # Identify on an empty gallery: two faces, both unknown, with distances.
    faces = identify(driver, group, 2)
    assert [f["name"] for f in faces] == ["unknown", "unknown"]
    assert all(f["label"].startswith("unknown") for f in faces)
    shot(driver, "02-identify-unknown")

    # Name both faces; after each enrolment the photo is identified again and shows the name.
    enrol(driver, faces[0]["i"], "Colin_Powell")
    enrol(driver, faces[1]["i"], "Serena_Williams")
    assert [f["name"] for f in face_items(driver)] == ["Colin_Powell", "Serena_Williams"]
    shot(driver, "03-enrolled")
    unlabelled = driver.execute_script(
        "return [...document.querySelectorAll('input, select, button')].filter((e) => !e.labels?.length && !e.getAttribute('aria-label')"
        " && !(e.tagName === 'BUTTON' && e.textContent.trim())).map((e) => e.outerHTML);")
    assert unlabelled == []

    # Another photo of Powell is now identified by name.
    again = identify(driver, powell / "Colin_Powell_0002.jpg", 1)
    assert again[0]["name"] == "Colin_Powell" and again[0]["label"].startswith("Colin_Powell ")
    shot(driver, "04-identify-known")
    enrol(driver, again[0]["i"], "C_Powell")  # a second subject for the same man, merged below

    # People: three subjects with their thumbnails; rename, merge, delete.
    driver.get(server.url + "/#people")
    wait_for(driver, lambda d: people(d) == {"C_Powell": 1, "Colin_Powell": 1, "Serena_Williams": 1}, "three people with a thumbnail each")
    shot(driver, "05-people")

    form = card(driver, "Serena_Williams").find_element(By.CSS_SELECTOR, "form.rename")
    form.find_element(By.TAG_NAME, "input").clear()
    form.find_element(By.TAG_NAME, "input").send_keys("Serena")
    form.find_element(By.TAG_NAME, "button").click()
    wait_for(driver, lambda d: set(people(d)) == {"C_Powell", "Colin_Powell", "Serena"}, "Serena_Williams renamed Serena")

    from selenium.webdriver.support.ui import Select

    form = card(driver, "C_Powell").find_element(By.CSS_SELECTOR, "form.merge")
    Select(form.find_element(By.TAG_NAME, "select")).select_by_value("Colin_Powell")
    form.find_element(By.TAG_NAME, "button").click()
    wait_for(driver, lambda d: people(d) == {"Colin_Powell": 2, "Serena": 1}, "C_Powell merged into Colin_Powell (2 faces)")
    shot(driver, "06-renamed-merged")

    serena_card = card(driver, "Serena")
    serena_card.find_element(By.XPATH, ".//button[starts-with(., 'Delete')]").click()
    serena_card.find_element(By.XPATH, ".//button[. = 'Yes, delete']").click()
    wait_for(driver, lambda d: people(d) == {"Colin_Powell": 2}, "Serena deleted")
    assert [s["name"] for s in server.api("GET", "/api/v1/subjects")] == ["Colin_Powell"]
    assert console_errors(driver) == []


def clusters(driver) -> list[dict]:
    """The cluster review rows: cluster id, title, the photos of its faces; the unclustered row has id None."""
    return driver.execute_script(
        """return [...document.querySelectorAll('.cluster-row')].map((r) => ({
             id: r.dataset.cluster === undefined ? null : Number(r.dataset.cluster),
             title: r.querySelector('h3 .cluster-title')?.textContent ?? r.querySelector('h3').textContent,
             photos: [...r.querySelectorAll('figcaption')].map((c) => c.textContent),
             thumbs: [...r.querySelectorAll('img.thumb')].filter((i) => i.complete && i.naturalWidth > 0).length,
           }));"""
    )


@pytest.mark.slow
@pytest.mark.data
def test_cluster_review(server, driver, lfw_dir: Path):
    from selenium.webdriver.common.by import By

    photos = [lfw_dir / "Tony_Blair" / f"Tony_Blair_000{i}.jpg" for i in (2, 3, 4, 5)]
    photos += [lfw_dir / "Gerhard_Schroeder" / f"Gerhard_Schroeder_000{i}.jpg" for i in (1, 2, 3)]
    open_page(driver, server, "clusters")
    upload(driver, "#cluster-files", *photos)
    wait_for(driver, lambda d: any(w in d.find_element("id", "cluster-status").text for w in ("done.", "failed")), "the cluster job", timeout=40)
    status = driver.find_element("id", "cluster-status").text
    assert "done." in status, f"{status}\nserver log:\n{server.log.read_text()[-3000:]}"
    wait_for(driver, lambda d: all(r["thumbs"] == len(r["photos"]) for r in clusters(d)), "every thumbnail")
    rows = [r for r in clusters(driver) if r["id"] is not None]
    shot(driver, "07-clusters")

    # Two clusters, one per man, largest first.
    assert len(rows) == 2, rows
    assert sorted(p.split("_000")[0] for p in rows[0]["photos"]) == ["Tony_Blair"] * 4
    assert sorted(p.split("_000")[0] for p in rows[1]["photos"]) == ["Gerhard_Schroeder"] * 3

    # Name the first cluster: its title shows the name and the gallery has the person with 4 faces.
    blair = css(driver, f'.cluster-row[data-cluster="{rows[0]["id"]}"] form.name')[0]
    blair.find_element(By.TAG_NAME, "input").send_keys("Tony_Blair")
    blair.find_element(By.TAG_NAME, "button").click()
    wait_for(driver, lambda d: clusters(d)[0]["title"] == "Tony_Blair", "the named cluster")
    subjects = {s["name"]: s["n_faces"] for s in server.api("GET", "/api/v1/subjects")}
    assert subjects.get("Tony_Blair") == 4
    shot(driver, "08-cluster-named")

    # Move one of Schroeder's faces out: it goes to the unclustered row.
    css(driver, f'.cluster-row[data-cluster="{rows[1]["id"]}"] figure button')[0].click()
    wait_for(driver, lambda d: [len(r["photos"]) for r in clusters(d)] == [4, 2, 1], "a face moved out (4, 2, 1 unclustered)")
    assert clusters(driver)[-1]["id"] is None

    # Merge Schroeder's cluster into Blair's: one cluster of six faces is left.
    merge = css(driver, f'.cluster-row[data-cluster="{rows[1]["id"]}"] form.merge')[0]
    merge.find_element(By.TAG_NAME, "button").click()
    wait_for(driver, lambda d: [len(r["photos"]) for r in clusters(d)] == [6, 1], "the merged cluster (6, 1 unclustered)")
    shot(driver, "09-cluster-merged")
    flagged = css(driver, ".cluster-row .check-first")
    assert len(flagged) == 1 and "two groups" in flagged[0].text  # the merged pair is the one to check first

    # Split it again: Blair's four faces keep the name, Schroeder's two get a cluster of their own.
    css(driver, ".cluster-row button.split")[0].click()
    wait_for(driver, lambda d: [len(r["photos"]) for r in clusters(d)] == [4, 2, 1], "the cluster split back (4, 2, 1 unclustered)")
    rows = clusters(driver)
    assert rows[0]["title"] == "Tony_Blair" and all(p.startswith("Tony_Blair") for p in rows[0]["photos"])
    assert len({p.rsplit("_", 1)[0] for p in rows[1]["photos"]}) == 1 and not rows[1]["photos"][0].startswith("Tony_Blair")
    shot(driver, "10-cluster-split")
    assert console_errors(driver) == []


@pytest.mark.slow
@pytest.mark.data
def test_compare(server, driver, lfw_dir: Path):
    powell = lfw_dir / "Colin_Powell"
    open_page(driver, server, "compare")
    upload(driver, "#compare-file-a", powell / "Colin_Powell_0001.jpg")
    upload(driver, "#compare-file-b", powell / "Colin_Powell_0003.jpg")
    wait_for(driver, lambda d: d.find_elements("id", "compare-verdict"), "the verdict")
    assert driver.find_element("id", "compare-verdict").text == "Same person"
    distance = float(driver.find_element("id", "compare-distance").text)
    threshold = float(driver.find_element("id", "compare-threshold").text)
    assert 0 <= distance < threshold
    assert len(css(driver, "#compare-photo-a .face-box")) == 1 and len(css(driver, "#compare-photo-b .face-box")) == 1
    shot(driver, "10-compare-same")

    drop(driver, "#compare-drop-b", lfw_dir / "Serena_Williams" / "Serena_Williams_0001.jpg")
    wait_for(driver, lambda d: d.find_elements("id", "compare-verdict") and d.find_element("id", "compare-verdict").text == "Different people",
             "the verdict for two people")
    assert float(driver.find_element("id", "compare-distance").text) >= float(driver.find_element("id", "compare-threshold").text)
    assert driver.execute_script("return document.getElementById('compare-file-b').files[0].name") == "Serena_Williams_0001.jpg"
    shot(driver, "11-compare-different")

    # A file that is not an image: the API's error message is shown on the page.
    upload(driver, "#compare-file-b", Path(__file__))
    wait_for(driver, lambda d: d.find_element("id", "error").is_displayed(), "the API's error for a text file")
    assert "unsupported_media_type, HTTP 415" in driver.find_element("id", "error").text
    shot(driver, "12-compare-error")
    assert console_errors(driver) == []
