"""The reference web client (app/web) in a real browser: Debian's chromium, headless, driven through its
chromedriver, against a real engine (development mode) and a real backend on loopback. Each flow a user has:
sign in, chats and search, a streamed reply, stop, edit, regenerate with "‹ 2 of 3 ›", a reload that rejoins a
running reply, reactions, a share link, an export. Screenshots of the main views are saved on every run (to
$CHAT_ENGINE_SCREENSHOTS, default /tmp/chat-engine-screenshots); the README's are these, taken with
CHAT_ENGINE_SCREENSHOTS=docs/screenshots."""
import os
import shutil
import uuid

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from support.backends import chunk, complete, gate, ndjson, stream_answer
from support.engine import ROOT, Api, expect

SCREENSHOTS = os.path.join(ROOT, os.environ.get("CHAT_ENGINE_SCREENSHOTS", "/tmp/chat-engine-screenshots"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("Debian's chromium and chromium-driver are needed (scripts/test installs them with apt-get)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,860",
                     "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def web(start_engine, browser):
    """An engine in development mode (the client at /, the demo token offered), the browser signed out."""
    engine = start_engine(CHAT_ENGINE_DEV_MODE=1)
    browser.get(engine.url + "/")
    browser.execute_script("localStorage.clear()")
    browser.get(engine.url + "/")
    return engine


class Replies:
    """The backend's replies: "reply n" in two chunks; `hold()` makes the next one wait after its first chunk."""

    def __init__(self, backend):
        self.count = 0
        self.gates = []
        self.held = False
        backend.on("message.new", self.answer)
        backend.on("message.recreate", self.answer)

    def hold(self):
        self.held = True
        self.gates.append(gate())
        return self.gates[-1]

    def answer(self, event, environ):
        self.count += 1
        number, waiting = self.count, self.gates[-1] if self.held else None
        self.held = False

        def body():
            yield ndjson(chunk(f"reply {number}"))
            if waiting is not None:
                waiting.wait()
            yield ndjson(chunk(" (done)"), complete())
        return stream_answer(body())


def wait(driver, condition, timeout=15, message=""):
    def safely(d):
        try:
            return condition(d)
        except StaleElementReferenceException:
            return False
    return WebDriverWait(driver, timeout).until(safely, message)


def messages(driver):
    return [item.find_element(By.CLASS_NAME, "content").text
            for item in driver.find_elements(By.CSS_SELECTOR, "#messages .message")]


def sign_in_with_the_demo_token(driver):
    wait(driver, lambda d: d.find_element(By.ID, "demo-token").is_displayed(), message="the demo token offered")
    driver.find_element(By.ID, "demo-token").click()
    wait(driver, lambda d: d.find_element(By.ID, "app").is_displayed(), message="signed in")


def new_chat(driver, session_type_name):
    Select(driver.find_element(By.ID, "session-type")).select_by_visible_text(session_type_name)
    driver.find_element(By.ID, "new-session-button").click()
    wait(driver, lambda d: d.find_element(By.ID, "composer").is_displayed(), message="a new chat open")


def send(driver, text):
    box = driver.find_element(By.ID, "message-input")
    box.send_keys(text)
    driver.find_element(By.ID, "send").click()


def screenshot(driver, name):
    os.makedirs(SCREENSHOTS, exist_ok=True)
    driver.save_screenshot(os.path.join(SCREENSHOTS, f"{name}.png"))


@pytest.fixture
def named_type(admin, backend):
    name = f"web_{uuid.uuid4().hex[:6]}"
    expect(admin.post("/admin/session-types", json={"name": name, "webhook_url": backend.url}), 201)
    return name


def test_a_user_chats_stops_edits_regenerates_reacts_shares_and_exports(web, browser, backend, named_type):
    replies = Replies(backend)
    sign_in_with_the_demo_token(browser)
    new_chat(browser, named_type)

    # A streamed reply: its first chunk shows while the backend still holds the rest.
    release = replies.hold()
    send(browser, "Hello, engine")
    wait(browser, lambda d: "reply 1" in " ".join(messages(d)), message="the first chunk on screen")
    assert browser.find_element(By.ID, "stop").is_displayed()
    screenshot(browser, "streaming")
    release.set()
    wait(browser, lambda d: messages(d) == ["Hello, engine", "reply 1 (done)"], message="the whole reply")

    # Stop: the reply stays as far as it got, marked stopped.
    replies.hold()
    send(browser, "Tell me more")
    wait(browser, lambda d: "reply 2" in " ".join(messages(d)), message="the second reply streaming")
    browser.find_element(By.ID, "stop").click()
    wait(browser, lambda d: "stopped: cancelled" in d.find_element(By.ID, "messages").text, message="stopped")
    assert messages(browser)[-1] == "reply 2"
    replies.gates[-1].set()

    # Edit the first message: a second variant of it, answered anew; "‹ 2 of 2 ›" and back.
    browser.find_elements(By.CSS_SELECTOR, "#messages .message.user .edit")[0].click()
    editor = browser.find_element(By.CSS_SELECTOR, "#messages .editor")
    editor.clear()
    editor.send_keys("Hello again, engine")
    browser.find_element(By.CSS_SELECTOR, "#messages .save-edit").click()
    wait(browser, lambda d: messages(d) == ["Hello again, engine", "reply 3 (done)"], message="the edited turn")
    first = browser.find_elements(By.CSS_SELECTOR, "#messages .message")[0]
    assert first.find_element(By.CLASS_NAME, "variants").text == "2 of 2"
    first.find_element(By.CLASS_NAME, "previous-variant").click()
    wait(browser, lambda d: messages(d)[:2] == ["Hello, engine", "reply 1 (done)"], message="back to variant 1")
    browser.find_elements(By.CSS_SELECTOR, "#messages .message")[0].find_element(By.CLASS_NAME, "next-variant").click()
    wait(browser, lambda d: messages(d)[0] == "Hello again, engine", message="forward to variant 2")

    # Regenerate twice: "3 of 3" on the reply.
    for expected in ("reply 4 (done)", "reply 5 (done)"):
        browser.find_elements(By.CSS_SELECTOR, "#messages .message.assistant .regenerate")[-1].click()
        wait(browser, lambda d, expected=expected: messages(d)[-1] == expected, message=expected)
    reply = browser.find_elements(By.CSS_SELECTOR, "#messages .message.assistant")[-1]
    assert reply.find_element(By.CLASS_NAME, "variants").text == "3 of 3"
    screenshot(browser, "conversation")

    # A reaction, stored for this user.
    reply.find_element(By.CLASS_NAME, "react-like").click()
    wait(browser, lambda d: "chosen" in d.find_elements(By.CSS_SELECTOR, "#messages .message.assistant")[-1]
         .find_element(By.CLASS_NAME, "react-like").get_attribute("class"), message="the like shown")
    user = Api(web.url, client_id="demo-user")
    session_id = browser.find_element(By.CSS_SELECTOR, "#sessions li.current").get_attribute("data-session-id")
    assert user.path(session_id)[-1]["my_reaction"] == "like"

    # A share link and an export that open.
    browser.find_element(By.ID, "share").click()
    link = wait(browser, lambda d: d.find_element(By.ID, "share-link").get_attribute("href"), message="a share link")
    assert requests.get(link, timeout=10).status_code == 200
    browser.find_element(By.ID, "export").click()
    download = wait(browser, lambda d: d.find_element(By.ID, "export-link").get_attribute("href"),
                    message="an export link")
    exported = requests.get(download, timeout=10)
    assert exported.status_code == 200 and "Hello again, engine" in exported.text


def test_a_reload_rejoins_the_running_reply_and_search_finds_the_chat(web, browser, backend, named_type):
    replies = Replies(backend)
    sign_in_with_the_demo_token(browser)
    new_chat(browser, named_type)
    send(browser, "A question about zebras")
    wait(browser, lambda d: messages(d)[-1] == "reply 1 (done)", message="the first reply")

    release = replies.hold()
    send(browser, "And about giraffes?")
    wait(browser, lambda d: "reply 2" in " ".join(messages(d)), message="the second reply streaming")
    browser.refresh()  # signed in still (the token is kept), the chat reopened from the list
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#sessions li"), message="the chat list")
    browser.find_elements(By.CSS_SELECTOR, "#sessions li")[0].click()
    wait(browser, lambda d: d.find_element(By.ID, "stop").is_displayed(), message="the running reply rejoined")
    release.set()
    wait(browser, lambda d: messages(d)[-1] == "reply 2 (done)", message="the rejoined reply completed")
    assert messages(browser) == ["A question about zebras", "reply 1 (done)", "And about giraffes?", "reply 2 (done)"]
    assert browser.find_element(By.CSS_SELECTOR, "#sessions li").text == "A question about zebras"

    search = browser.find_element(By.ID, "search-query")
    search.send_keys("zebras\n")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results .search-hit"), message="a search hit")
    assert "zebras" in browser.find_element(By.CSS_SELECTOR, "#search-results .search-hit").text
    screenshot(browser, "sessions-and-search")


def test_a_token_is_asked_for_and_a_wrong_one_refused(web, browser):
    assert browser.find_element(By.ID, "sign-in").is_displayed()
    assert not browser.find_element(By.ID, "app").is_displayed()
    screenshot(browser, "sign-in")
    browser.find_element(By.ID, "token").send_keys("not-a-token")
    browser.find_element(By.ID, "sign-in-button").click()
    wait(browser, lambda d: "refused" in d.find_element(By.ID, "status").text, message="the refusal shown")
    assert not browser.find_element(By.ID, "app").is_displayed()
