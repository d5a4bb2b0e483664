//! Email through a tiny SMTP server written here: envelope, auth and both MIME parts.

use gitops_notify::{Destination, RenderOptions, Sender, SenderConfig, render};

use crate::support::{SmtpTls, digest_of_missing, smtp_server, tls_identity};

#[tokio::test]
async fn email_arrives_with_a_plain_text_and_an_html_part() {
    let (addr, mut mails, _task) = smtp_server(SmtpTls::None).await;
    let url = format!(
        "mailto://gitops:pa%24s@{addr}?to=ops@example.org,alice@example.org&from=gitops@example.org&mode=plain"
    );
    let destination = Destination::parse(&url).unwrap();
    assert!(!destination.to_string().contains("pa$s"));
    let rendered = render(&digest_of_missing(3), &destination, &RenderOptions::default());
    Sender::new(SenderConfig::default()).unwrap().send(&destination, &rendered).await.unwrap();

    let mail = tokio::time::timeout(std::time::Duration::from_secs(10), mails.recv())
        .await
        .unwrap()
        .unwrap();
    // AUTH PLAIN is base64 of "\0user\0password".
    assert_eq!(mail.auth.as_deref(), Some("AGdpdG9wcwBwYSRz"));
    assert!(!mail.tls);
    assert_eq!(mail.from, "<gitops@example.org>");
    assert_eq!(mail.to, ["<ops@example.org>", "<alice@example.org>"]);
    let data = mail.data.replace("\r\n", "\n");
    assert!(data.contains("Subject: gitops: 3 repositories need attention (red)\n"), "{data}");
    assert!(data.contains("Content-Type: multipart/alternative;"), "{data}");
    let parts = mime_parts(&data);
    let types: Vec<&str> = parts.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(types, ["text/plain; charset=utf-8", "text/html; charset=utf-8"], "plain first");
    let (plain, html) = (&parts[0].1, &parts[1].1);
    assert!(plain.contains("Health: green → red"), "{plain}");
    assert!(plain.contains("- repo-02 (was clean)"), "{plain}");
    assert!(
        plain.contains("Changes: https://gitops.example.org/history?from=4:10&to=4:11"),
        "{plain}"
    );
    assert!(html.contains("<li>repo-02 (was clean)</li>"), "{html}");
    assert!(
        html.contains("<a href=\"https://gitops.example.org/history?from=4:10&amp;to=4:11\">"),
        "{html}"
    );
}

#[tokio::test]
async fn starttls_and_implicit_tls_reach_a_server_with_a_trusted_certificate() {
    let (root, server) = tls_identity();
    let trusting =
        Sender::new(SenderConfig { extra_roots: vec![root], ..SenderConfig::default() }).unwrap();
    let cases =
        [(SmtpTls::StartTls(server.clone()), "mailto"), (SmtpTls::Implicit(server), "mailtos")];
    for (tls, scheme) in cases {
        let (addr, mut mails, _task) = smtp_server(tls).await;
        let url = format!("{scheme}://ops%40example.org:pw@{addr}?to=alice@example.org");
        let destination = Destination::parse(&url).unwrap();
        let rendered = render(&digest_of_missing(1), &destination, &RenderOptions::default());

        // Untrusted first: nothing is sent in the clear, nothing arrives.
        let error =
            Sender::new(SenderConfig::default()).unwrap().send(&destination, &rendered).await;
        assert!(error.is_err(), "{scheme}: an untrusted certificate is refused");
        trusting.send(&destination, &rendered).await.unwrap();

        let mail = tokio::time::timeout(std::time::Duration::from_secs(10), mails.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(mail.tls, "{scheme}");
        assert_eq!(mail.from, "<ops@example.org>", "{scheme}");
        assert_eq!(mail.auth.as_deref(), Some("AG9wc0BleGFtcGxlLm9yZwBwdw=="), "{scheme}");
    }
}

/// The parts of a multipart message: each part's content type and its decoded body.
fn mime_parts(data: &str) -> Vec<(String, String)> {
    let boundary = data.split("boundary=\"").nth(1).unwrap().split('"').next().unwrap();
    data.split(&format!("--{boundary}"))
        .skip(1)
        .filter(|part| !part.starts_with("--"))
        .map(|part| {
            let (head, body) = part.trim_start_matches('\n').split_once("\n\n").unwrap();
            let header = |name: &str| {
                head.lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(str::trim)
                    .unwrap_or("")
                    .to_owned()
            };
            let body = match header("Content-Transfer-Encoding:").as_str() {
                "quoted-printable" => decode_quoted_printable(body),
                "base64" => decode_base64(body),
                _ => body.to_owned(),
            };
            (header("Content-Type:"), body)
        })
        .collect()
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn decode_base64(text: &str) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n_bits = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| alphabet.contains(c)) {
        let value = alphabet.iter().position(|a| *a == c).unwrap() as u32;
        bits = (bits << 6) | value;
        n_bits += 6;
        if n_bits >= 8 {
            n_bits -= 8;
            out.push((bits >> n_bits) as u8);
            bits &= (1 << n_bits) - 1;
        }
    }
    String::from_utf8(out).unwrap()
}
