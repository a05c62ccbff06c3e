use std::collections::BTreeMap;

use super::proto::read::{Field, fields};
use super::*;
use crate::trace::{SpanId, TraceId, keys};

fn lm_span(parent: Option<SpanId>) -> Span {
    let mut a = crate::trace::Attributes::new();
    a.insert(
        keys::GEN_AI_REQUEST_MODEL.into(),
        "openai/gpt-4o-mini".into(),
    );
    a.insert(keys::GEN_AI_PROVIDER.into(), "openai".into());
    a.insert(keys::GEN_AI_INPUT_TOKENS.into(), 12u64.into());
    a.insert(keys::GEN_AI_OUTPUT_TOKENS.into(), 3u64.into());
    a.insert(keys::GEN_AI_CACHED_TOKENS.into(), 0u64.into());
    a.insert(keys::GEN_AI_TEMPERATURE.into(), 0.5.into());
    a.insert(
        keys::GEN_AI_INPUT_MESSAGES.into(),
        r#"[{"role":"user","content":"hi"}]"#.into(),
    );
    a.insert(keys::LM_OUTPUT.into(), "hello".into());
    Span {
        trace_id: TraceId(0x0102),
        span_id: SpanId(0x0a0b),
        parent_id: parent,
        kind: SpanKind::Lm,
        name: "lm".into(),
        start_ns: 1_000,
        end_ns: 2_000,
        status: SpanStatus::Ok,
        attributes: a,
        events: Vec::new(),
    }
}

fn attrs_of(span_bytes: &[u8]) -> BTreeMap<String, Field<'_>> {
    let mut out = BTreeMap::new();
    for (f, v) in fields(span_bytes) {
        if let (9, Field::Len(kv)) = (f, v) {
            let kvf = fields(kv);
            let key = match &kvf[0].1 {
                Field::Len(k) => String::from_utf8(k.to_vec()).unwrap(),
                _ => panic!(),
            };
            let Field::Len(any) = kvf[1].1.clone() else {
                panic!()
            };
            out.insert(key, fields(any)[0].1.clone());
        }
    }
    out
}

#[test]
fn export_request_encodes_ids_kinds_and_three_vocabularies() {
    let mut resource = BTreeMap::new();
    resource.insert("service.name".to_string(), "svc".to_string());
    let body = encode_request(&[lm_span(Some(SpanId(0x0c)))], &resource);
    let top = fields(&body);
    assert_eq!(top.len(), 1);
    let Field::Len(rs) = top[0].1 else { panic!() };
    let rs = fields(rs);
    let Field::Len(ss) = rs[1].1 else { panic!() };
    let ss = fields(ss);
    let Field::Len(span) = ss[1].1 else { panic!() };
    let sf = fields(span);
    let get = |n: u32| sf.iter().find(|(f, _)| *f == n).map(|(_, v)| v.clone());
    let mut tid = [0u8; 16];
    tid[14] = 1;
    tid[15] = 2;
    assert_eq!(get(1), Some(Field::Len(&tid)));
    assert_eq!(get(2), Some(Field::Len(&[0, 0, 0, 0, 0, 0, 0x0a, 0x0b])));
    assert_eq!(get(4), Some(Field::Len(&[0, 0, 0, 0, 0, 0, 0, 0x0c])));
    assert_eq!(get(5), Some(Field::Len(b"lm")));
    assert_eq!(get(6), Some(Field::Varint(3)), "LM calls are CLIENT spans");
    assert_eq!(get(7), Some(Field::Fixed64(1_000)));
    assert_eq!(get(8), Some(Field::Fixed64(2_000)));
    let a = attrs_of(span);
    assert_eq!(a["openinference.span.kind"], Field::Len(b"LLM"));
    assert_eq!(a["llm.token_count.prompt"], Field::Varint(12));
    assert_eq!(a["llm.token_count.completion"], Field::Varint(3));
    assert_eq!(a["llm.token_count.total"], Field::Varint(15));
    assert_eq!(a["llm.model_name"], Field::Len(b"openai/gpt-4o-mini"));
    assert_eq!(a["llm.input_messages.0.message.content"], Field::Len(b"hi"));
    assert_eq!(a["gen_ai.usage.input_tokens"], Field::Varint(12));
    assert_eq!(
        a["gen_ai.request.temperature"],
        Field::Fixed64(0.5f64.to_bits())
    );
    assert_eq!(a["langfuse.observation.type"], Field::Len(b"generation"));
    assert_eq!(
        a["langfuse.observation.usage_details"],
        Field::Len(br#"{"input":12,"output":3,"total":15,"cache_read_input_tokens":0}"#)
    );
    assert_eq!(
        a["input.value"],
        Field::Len(br#"[{"role":"user","content":"hi"}]"#)
    );
    assert_eq!(a["output.value"], Field::Len(b"hello"));
}

#[test]
fn config_follows_the_otel_variables() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let c = OtlpConfig::from_vars(vars(&[])).unwrap();
    assert_eq!(c.endpoint, "http://localhost:4318/v1/traces");
    let c = OtlpConfig::from_vars(vars(&[
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://cloud.langfuse.com/api/public/otel/",
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization=Basic%20cGs6c2s=,x-extra = 1",
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_SERVICE_NAME", "qa-service"),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod"),
    ]))
    .unwrap();
    assert_eq!(
        c.endpoint,
        "https://cloud.langfuse.com/api/public/otel/v1/traces"
    );
    assert_eq!(
        c.headers,
        [
            ("Authorization".to_string(), "Basic cGs6c2s=".to_string()),
            ("x-extra".into(), "1".into())
        ]
    );
    assert_eq!(c.timeout, Duration::from_millis(2500));
    assert_eq!(c.resource["service.name"], "qa-service");
    assert_eq!(c.resource["deployment.environment"], "prod");
    assert!(
        !format!("{c:?}").contains("cGs6c2s"),
        "header values are never printed"
    );
    let c = OtlpConfig::from_vars(vars(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:1"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:2/custom"),
    ]))
    .unwrap();
    assert_eq!(c.endpoint, "http://b:2/custom");
    assert!(matches!(
        OtlpConfig::from_vars(vars(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])),
        Err(OtlpError::Protocol(_))
    ));
    assert!(matches!(
        OtlpConfig::from_vars(vars(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")])),
        Err(OtlpError::Config { .. })
    ));
}

#[test]
fn an_unreachable_collector_is_reported_and_export_goes_on() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = OtlpConfig::new(format!("http://127.0.0.1:{port}/v1/traces"));
    cfg.timeout = Duration::from_millis(300);
    let exporter = OtlpExporter::new(cfg).unwrap();
    exporter.export(&[lm_span(None)]).unwrap();
    exporter.flush().unwrap();
    assert_eq!(exporter.failed_batches(), 1);
    assert_eq!(exporter.sent_batches(), 0);
}

#[test]
fn posts_protobuf_with_the_configured_headers() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = conn.read(&mut buf).unwrap();
            data.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&data).to_string();
            if let Some(head_end) = text.find("\r\n\r\n") {
                let len: usize = text
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if data.len() >= head_end + 4 + len {
                    conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .unwrap();
                    return (text[..head_end].to_string(), data[head_end + 4..].to_vec());
                }
            }
            if n == 0 {
                panic!("connection closed early");
            }
        }
    });
    let cfg =
        OtlpConfig::new(format!("http://127.0.0.1:{port}/v1/traces")).header("x-api-key", "k1");
    let exporter = OtlpExporter::new(cfg).unwrap();
    exporter.export(&[lm_span(None)]).unwrap();
    exporter.flush().unwrap();
    let (head, body) = server.join().unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("post /v1/traces"), "{head}");
    assert!(head.contains("content-type: application/x-protobuf"));
    assert!(head.contains("x-api-key: k1"));
    assert_eq!(
        body,
        encode_request(&[lm_span(None)], &exporter.config().resource)
    );
    assert_eq!(exporter.sent_batches(), 1);
}
