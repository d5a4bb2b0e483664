//! The GitHub listing against a local HTTP server that speaks the API's JSON and paging headers.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use gitops_audit::{Error, GithubAccount, GithubOptions, Token, fetch_github};

/// One request as the server saw it: the path and query, and the headers (names lowercased).
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// Serves on 127.0.0.1 (port 0) until the test ends; `route` answers each request.
fn serve(route: impl Fn(&str, &str) -> Answer + Send + 'static) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let own_base = base.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            if let Some(request) = read_request(&stream) {
                let answer = route(&own_base, &request.target);
                log.lock().expect("log").push(request);
                write_answer(stream, &answer);
            }
        }
    });
    (base, seen)
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_lowercase(), value.trim().to_owned()));
    }
    Some(Seen { target, headers })
}

fn write_answer(mut stream: TcpStream, answer: &Answer) {
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        answer.body.len()
    );
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(answer.body.as_bytes());
}

fn repos_json(owner: &str, names: impl Iterator<Item = String>) -> String {
    let repos: Vec<serde_json::Value> = names
        .map(|name| {
            serde_json::json!({
                "id": 1, "name": name, "full_name": format!("{owner}/{name}"), "private": false,
                "owner": { "login": owner, "type": "User" },
                "clone_url": format!("https://github.com/{owner}/{name}.git"),
                "ssh_url": format!("git@github.com:{owner}/{name}.git"), "archived": false, "fork": false,
            })
        })
        .collect();
    serde_json::to_string(&repos).expect("json")
}

/// GitHub's paging: 250 repositories over 3 pages, `Link` with next/last, then prev/first only.
fn three_pages(base: &str, target: &str) -> Answer {
    let page =
        target.split_once("&page=").and_then(|(_, page)| page.parse::<usize>().ok()).unwrap_or(1);
    let owner = if target.starts_with("/orgs/") { "acme" } else { "alice" };
    let link = |page: usize| format!("{base}/user/42/repos?per_page=100&page={page}");
    let (range, link_header) = match page {
        1 => (0..100, format!("<{}>; rel=\"next\", <{}>; rel=\"last\"", link(2), link(3))),
        2 => (
            100..200,
            format!(
                "<{}>; rel=\"prev\", <{}>; rel=\"next\", <{}>; rel=\"last\", <{}>; rel=\"first\"",
                link(1),
                link(3),
                link(3),
                link(1)
            ),
        ),
        _ => (200..250, format!("<{}>; rel=\"prev\", <{}>; rel=\"first\"", link(2), link(1))),
    };
    Answer {
        status: 200,
        headers: vec![
            ("Link".into(), link_header),
            ("X-RateLimit-Remaining".into(), "4990".into()),
        ],
        body: repos_json(owner, range.map(|index| format!("repo-{index:03}"))),
    }
}

fn options(base: &str, token: Option<&str>) -> GithubOptions {
    GithubOptions {
        api_base: base.to_owned(),
        token: token.and_then(Token::new),
        ..GithubOptions::default()
    }
}

#[test]
fn every_page_is_followed_and_the_token_sent_as_bearer() {
    let (base, seen) = serve(three_pages);
    let list =
        fetch_github(&GithubAccount::User("alice".into()), &options(&base, Some("test-token")))
            .expect("listing");
    assert_eq!(list.repos.len(), 250);
    assert_eq!(list.repos[0].name, "repo-000");
    assert_eq!(list.repos[249].name, "repo-249");
    assert_eq!(list.repos[7].owner.as_deref(), Some("alice"));
    assert_eq!(list.repos[7].clone_url.as_deref(), Some("https://github.com/alice/repo-007.git"));
    assert_eq!(list.github_account.as_deref(), Some("alice"));

    let seen = seen.lock().expect("log").clone();
    let targets: Vec<&str> = seen.iter().map(|request| request.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/users/alice/repos?per_page=100",
            "/user/42/repos?per_page=100&page=2",
            "/user/42/repos?per_page=100&page=3"
        ]
    );
    for request in &seen {
        assert_eq!(request.header("authorization"), Some("Bearer test-token"));
        assert_eq!(request.header("accept"), Some("application/vnd.github+json"));
        assert!(
            request.header("user-agent").is_some_and(|agent| agent.starts_with("gitops-live/"))
        );
    }
}

#[test]
fn organisations_use_the_orgs_route_and_no_token_sends_no_authorization() {
    let (base, seen) = serve(three_pages);
    let list =
        fetch_github(&GithubAccount::Org("acme".into()), &options(&base, None)).expect("listing");
    assert_eq!(list.repos.len(), 250);
    assert_eq!(list.repos[0].owner.as_deref(), Some("acme"));
    let seen = seen.lock().expect("log").clone();
    assert_eq!(seen[0].target, "/orgs/acme/repos?per_page=100");
    assert!(seen.iter().all(|request| request.header("authorization").is_none()));
}

#[test]
fn rate_limit_answers_become_a_clear_error_without_the_token() {
    let (base, _) = serve(|_, target| {
        if target.starts_with("/users/primary/") {
            Answer {
                status: 403,
                headers: vec![
                    ("x-ratelimit-limit".into(), "60".into()),
                    ("x-ratelimit-remaining".into(), "0".into()),
                    ("x-ratelimit-reset".into(), "1750000000".into()),
                ],
                body: r#"{"message":"API rate limit exceeded for 127.0.0.1."}"#.into(),
            }
        } else if target.starts_with("/users/secondary/") {
            Answer {
                status: 429,
                headers: vec![("retry-after".into(), "60".into())],
                body: r#"{"message":"slow down"}"#.into(),
            }
        } else {
            Answer {
                status: 403,
                headers: vec![],
                body: r#"{"message":"Resource not accessible"}"#.into(),
            }
        }
    });
    let token = Some("sekrit-token-value");

    let error = fetch_github(&GithubAccount::User("primary".into()), &options(&base, token))
        .expect_err("limited");
    match &error {
        Error::RateLimited { reset_at, retry_after_seconds: None } => {
            assert_eq!(reset_at.as_deref(), Some("2025-06-15T15:06:40Z"));
        }
        other => panic!("not a rate limit: {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("rate limit") && message.contains("2025-06-15T15:06:40Z"),
        "{message}"
    );
    assert!(!message.contains("sekrit") && !format!("{error:?}").contains("sekrit"));

    let error = fetch_github(&GithubAccount::User("secondary".into()), &options(&base, token))
        .expect_err("limited");
    assert!(matches!(error, Error::RateLimited { retry_after_seconds: Some(60), .. }), "{error:?}");
    assert!(error.to_string().contains("retry after 60 s"));

    // A 403 that is no rate limit stays a plain status error.
    let error = fetch_github(&GithubAccount::User("forbidden".into()), &options(&base, token))
        .expect_err("forbidden");
    assert!(
        matches!(&error, Error::GithubStatus { status: 403, message } if message == "Resource not accessible"),
        "{error:?}"
    );
}

#[test]
fn unknown_accounts_bad_tokens_and_bad_json_are_errors() {
    let (base, _) = serve(|_, target| match target {
        t if t.starts_with("/users/ghost/") => {
            Answer { status: 404, headers: vec![], body: r#"{"message":"Not Found"}"#.into() }
        }
        t if t.starts_with("/users/badtoken/") => {
            Answer { status: 401, headers: vec![], body: r#"{"message":"Bad credentials"}"#.into() }
        }
        _ => Answer { status: 200, headers: vec![], body: "<html>not an api</html>".into() },
    });
    let fetch = |name: &str| {
        fetch_github(&GithubAccount::User(name.into()), &options(&base, None)).expect_err("fails")
    };
    assert!(matches!(fetch("ghost"), Error::GithubNotFound { account } if account == "ghost"));
    assert!(
        matches!(fetch("badtoken"), Error::GithubUnauthorized { message } if message == "Bad credentials")
    );
    assert!(matches!(fetch("html"), Error::GithubJson { .. }));
}

#[test]
fn next_links_to_another_server_are_not_followed() {
    let (base, seen) = serve(|_, _| Answer {
        status: 200,
        headers: vec![("Link".into(), "<http://127.0.0.2:9/steal?page=2>; rel=\"next\"".into())],
        body: repos_json("alice", std::iter::once("one".to_owned())),
    });
    let error = fetch_github(&GithubAccount::User("alice".into()), &options(&base, Some("t")))
        .expect_err("refused");
    assert!(matches!(error, Error::ForeignNextLink { .. }), "{error:?}");
    assert_eq!(seen.lock().expect("log").len(), 1);
}

#[test]
fn a_server_that_pages_forever_is_stopped() {
    let (base, _) = serve(|base, _| Answer {
        status: 200,
        headers: vec![("Link".into(), format!("<{base}/again?page=2>; rel=\"next\""))],
        body: "[]".into(),
    });
    let options = GithubOptions { max_pages: 5, ..options(&base, None) };
    let error = fetch_github(&GithubAccount::User("alice".into()), &options).expect_err("stopped");
    assert!(matches!(error, Error::TooManyPages { pages: 5 }), "{error:?}");
}

#[test]
fn a_server_that_is_not_there_is_an_http_error() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    let error = fetch_github(&GithubAccount::User("alice".into()), &options(&base, None))
        .expect_err("refused");
    assert!(matches!(error, Error::Http { .. }), "{error:?}");
}
