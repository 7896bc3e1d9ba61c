//! The few W3C WebDriver commands the browser tests send to chromedriver on
//! 127.0.0.1, over plain HTTP with `ureq`.
//!
//! Why our own: a full WebDriver client (fantoccini and its webdriver, url,
//! idna, icu, cookie and time crates) cost about 20 s of CPU in every clean
//! CI build for a dozen calls. This covers exactly what the tests use: a
//! session with Chromium's options, navigation, scripts, finding elements by
//! CSS or id, their text, clicks and typing, window size, screenshots and a
//! press-and-hold pointer gesture. Every request has a timeout, and a
//! failure names the command and the WebDriver `error` and `message`.
//!
//! The methods are `async` only so the tests keep their shape (they run in a
//! current-thread runtime and poll with `tokio::time::sleep`); each one makes
//! one blocking request.

use base64::Engine as _;
use serde_json::{json, Value};
use std::time::Duration;

/// The key W3C gives an element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Longest wait for one command (a page load, a script, a screenshot).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest wait for a new session: Chromium starts, on a busy machine.
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);

/// What went wrong with a WebDriver command.
#[derive(thiserror::Error)]
pub(crate) enum Error {
    /// chromedriver answered with a W3C error.
    #[error("WebDriver {command}: {error}: {message}")]
    WebDriver {
        command: String,
        error: String,
        message: String,
    },
    /// No usable answer (refused, timed out, not JSON, unexpected shape).
    #[error("WebDriver {command}: {why}")]
    Transport { command: String, why: String },
}

// `unwrap()` prints Debug: make it the same readable sentence.
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// How to find an element.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Locator<'a> {
    Css(&'a str),
    Id(&'a str),
}

impl Locator<'_> {
    /// The W3C `using`/`value` pair; an id becomes an attribute selector
    /// (ids like `2x` are not valid after `#`).
    fn to_json(self) -> Value {
        let css = match self {
            Locator::Css(css) => css.to_string(),
            Locator::Id(id) => format!("[id={}]", css_string(id)),
        };
        json!({ "using": "css selector", "value": css })
    }
}

/// `text` as a quoted CSS string.
fn css_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One session's address and the HTTP agent that talks to it.
#[derive(Clone)]
struct Session {
    agent: ureq::Agent,
    /// `http://127.0.0.1:<port>/session/<id>`
    url: String,
}

impl Session {
    /// Send one command; the W3C `value` of its answer.
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Error> {
        let url = format!("{}{path}", self.url);
        let command = format!("{method} {path}");
        send(&self.agent, method, &url, body, COMMAND_TIMEOUT, &command)
    }
}

fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<Value>,
    timeout: Duration,
    command: &str,
) -> Result<Value, Error> {
    let transport = |why: String| Error::Transport {
        command: command.to_string(),
        why,
    };
    let answer = match (method, body) {
        ("GET", _) => agent
            .get(url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .call(),
        ("DELETE", _) => agent
            .delete(url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .call(),
        (_, body) => agent
            .post(url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send_json(body.unwrap_or_else(|| json!({}))),
    };
    let mut answer = answer.map_err(|e| transport(e.to_string()))?;
    let status = answer.status().as_u16();
    let mut reply: Value = answer
        .body_mut()
        .read_json()
        .map_err(|e| transport(format!("HTTP {status}, not JSON: {e}")))?;
    let value = reply["value"].take();
    if (200..300).contains(&status) {
        return Ok(value);
    }
    let field = |name: &str| value[name].as_str().unwrap_or("").to_string();
    Err(Error::WebDriver {
        command: command.to_string(),
        error: match field("error") {
            e if e.is_empty() => format!("HTTP {status}"),
            e => e,
        },
        message: field("message"),
    })
}

fn unexpected(command: &str, value: &Value) -> Error {
    Error::Transport {
        command: command.to_string(),
        why: format!("unexpected answer {value}"),
    }
}

/// A browser session; closed (and its Chromium quit) by [`Client::close`] or
/// when dropped.
pub(crate) struct Client {
    session: Session,
    closed: bool,
}

impl Client {
    /// Start a session at the chromedriver on `driver` (`http://host:port`)
    /// with these capabilities (e.g. `goog:chromeOptions`).
    pub(crate) async fn connect(
        driver: &str,
        capabilities: serde_json::Map<String, Value>,
    ) -> Result<Client, Error> {
        let agent = crate::common::http_agent(COMMAND_TIMEOUT);
        let command = "POST /session";
        let value = send(
            &agent,
            "POST",
            &format!("{driver}/session"),
            Some(json!({ "capabilities": { "alwaysMatch": capabilities } })),
            SESSION_TIMEOUT,
            command,
        )?;
        let id = value["sessionId"]
            .as_str()
            .ok_or_else(|| unexpected(command, &value))?;
        Ok(Client {
            session: Session {
                agent,
                url: format!("{driver}/session/{id}"),
            },
            closed: false,
        })
    }

    pub(crate) async fn goto(&self, url: &str) -> Result<(), Error> {
        self.session
            .send("POST", "/url", Some(json!({ "url": url })))
            .map(drop)
    }

    /// Run `script` as a function body with `args` as `arguments`; its
    /// return value.
    pub(crate) async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, Error> {
        self.session.send(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Load the page again.
    pub(crate) async fn refresh(&self) -> Result<(), Error> {
        self.session.send("POST", "/refresh", None).map(drop)
    }

    /// The first element `locator` finds (an error if none).
    pub(crate) async fn find(&self, locator: Locator<'_>) -> Result<Element, Error> {
        let value = self
            .session
            .send("POST", "/element", Some(locator.to_json()))?;
        let id = value[ELEMENT]
            .as_str()
            .ok_or_else(|| unexpected("POST /element", &value))?;
        Ok(Element {
            session: self.session.clone(),
            id: id.to_string(),
        })
    }

    /// Size the window (its frame included).
    pub(crate) async fn set_window_size(&self, width: u32, height: u32) -> Result<(), Error> {
        self.session
            .send(
                "POST",
                "/window/rect",
                Some(json!({ "width": width, "height": height })),
            )
            .map(drop)
    }

    /// The viewport as PNG bytes.
    pub(crate) async fn screenshot(&self) -> Result<Vec<u8>, Error> {
        let command = "GET /screenshot";
        let value = self.session.send("GET", "/screenshot", None)?;
        let text = value.as_str().ok_or_else(|| unexpected(command, &value))?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| Error::Transport {
                command: command.to_string(),
                why: format!("the PNG is not base64: {e}"),
            })
    }

    /// Press the left mouse button on the middle of `element`, hold it for
    /// `how_long`, release it (W3C pointer actions).
    pub(crate) async fn hold(&self, element: &Element, how_long: Duration) -> Result<(), Error> {
        let ms = u64::try_from(how_long.as_millis()).unwrap_or(u64::MAX);
        let mouse = json!({
            "type": "pointer",
            "id": "mouse",
            "parameters": { "pointerType": "mouse" },
            "actions": [
                { "type": "pointerMove", "duration": 0, "x": 0, "y": 0,
                  "origin": { ELEMENT: element.id } },
                { "type": "pointerDown", "button": 0 },
                { "type": "pause", "duration": ms },
                { "type": "pointerUp", "button": 0 },
            ],
        });
        self.session
            .send("POST", "/actions", Some(json!({ "actions": [mouse] })))
            .map(drop)
    }

    /// End the session: chromedriver quits its Chromium.
    pub(crate) async fn close(mut self) -> Result<(), Error> {
        self.closed = true;
        self.session.send("DELETE", "", None).map(drop)
    }
}

impl Drop for Client {
    /// A test that failed half-way still quits its Chromium.
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.session.send("DELETE", "", None);
        }
    }
}

/// An element on the page, found by [`Client::find`].
pub(crate) struct Element {
    session: Session,
    id: String,
}

impl Element {
    fn send(&self, method: &str, what: &str, body: Option<Value>) -> Result<Value, Error> {
        self.session
            .send(method, &format!("/element/{}{what}", self.id), body)
    }

    pub(crate) async fn click(&self) -> Result<(), Error> {
        self.send("POST", "/click", None).map(drop)
    }

    /// Its rendered text.
    pub(crate) async fn text(&self) -> Result<String, Error> {
        let value = self.send("GET", "/text", None)?;
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| unexpected("GET /element/text", &value))
    }

    /// Type `text` into it.
    pub(crate) async fn send_keys(&self, text: &str) -> Result<(), Error> {
        self.send("POST", "/value", Some(json!({ "text": text })))
            .map(drop)
    }

    /// Choose the `<option>` of this `<select>` whose value is `value`
    /// (by clicking it, as a user would).
    pub(crate) async fn select_by_value(&self, value: &str) -> Result<(), Error> {
        let css = format!("option[value={}]", css_string(value));
        let found = self.send(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        )?;
        let id = found[ELEMENT]
            .as_str()
            .ok_or_else(|| unexpected("POST /element/element", &found))?;
        let option = Element {
            session: self.session.clone(),
            id: id.to_string(),
        };
        option.click().await
    }

    pub(crate) async fn is_displayed(&self) -> Result<bool, Error> {
        let value = self.send("GET", "/displayed", None)?;
        value
            .as_bool()
            .ok_or_else(|| unexpected("GET /element/displayed", &value))
    }
}
