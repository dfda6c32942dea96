//! A fault-injecting HTTP proxy between the AWS SDK and the emulator: lost responses, throttles, 5xx answers, resets and latency, drawn from a seeded PRNG.
//!
//! Self-contained on purpose (no `crate::` imports) so benches can include it with `#[path]`.
//! It runs on its own thread with its own tokio runtime, so synchronous tests can use it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Delay added before a request is handled.
#[derive(Clone, Debug, Default)]
pub enum Latency {
    #[default]
    None,
    Fixed(Duration),
    /// `default` for every operation not named in `by_operation`.
    PerOperation {
        default: Duration,
        by_operation: BTreeMap<String, Duration>,
    },
}

impl Latency {
    /// The calls that take minutes on AWS made noticeably slower than the rest.
    pub fn slow_creates(slow: Duration, default: Duration) -> Latency {
        let by_operation = ["CreateNatGateway", "CreateCluster", "CreateNodegroup", "CreateDBInstance"].into_iter().map(|op| (op.to_string(), slow)).collect();
        Latency::PerOperation { default, by_operation }
    }

    fn for_operation(&self, op: &str) -> Duration {
        match self {
            Latency::None => Duration::ZERO,
            Latency::Fixed(d) => *d,
            Latency::PerOperation { default, by_operation } => by_operation.get(op).copied().unwrap_or(*default),
        }
    }
}

/// Probabilities (0.0..=1.0) of each fault per request; at most one fault hits a request.
#[derive(Clone, Debug)]
pub struct Faults {
    pub seed: u64,
    /// Forwarded to the emulator (AWS performs it), then the connection is dropped unanswered.
    pub lost: f64,
    /// Answered with the protocol's throttling error, not forwarded.
    pub throttle: f64,
    /// Answered with a 500 InternalError in the protocol's shape, not forwarded.
    pub server_error: f64,
    /// Connection closed without forwarding: the request never reached AWS.
    pub reset: f64,
    pub latency: Latency,
}

impl Faults {
    pub fn none() -> Faults {
        Faults { seed: 0, lost: 0.0, throttle: 0.0, server_error: 0.0, reset: 0.0, latency: Latency::None }
    }
    pub fn lost(p: f64, seed: u64) -> Faults {
        Faults { seed, lost: p, ..Faults::none() }
    }
    pub fn throttle(p: f64, seed: u64) -> Faults {
        Faults { seed, throttle: p, ..Faults::none() }
    }
    pub fn server_error(p: f64, seed: u64) -> Faults {
        Faults { seed, server_error: p, ..Faults::none() }
    }
    pub fn reset(p: f64, seed: u64) -> Faults {
        Faults { seed, reset: p, ..Faults::none() }
    }
}

/// What happened to the requests of one operation (or of all).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpStats {
    pub requests: u64,
    pub lost: u64,
    pub throttled: u64,
    pub server_errors: u64,
    pub resets: u64,
}

impl OpStats {
    /// Requests that met any fault.
    pub fn faulted(&self) -> u64 {
        self.lost + self.throttled + self.server_errors + self.resets
    }
}

#[derive(Clone, Debug, Default)]
pub struct FaultStats {
    pub requests: u64,
    pub lost: u64,
    pub throttled: u64,
    pub server_errors: u64,
    pub resets: u64,
    /// By operation name (`CreateSubnet`, `CreateIPSet`, `PutBucketTagging`, `CreateCluster`, ...).
    pub by_operation: BTreeMap<String, OpStats>,
}

impl FaultStats {
    pub fn op(&self, name: &str) -> OpStats {
        self.by_operation.get(name).cloned().unwrap_or_default()
    }
    pub fn faulted(&self) -> u64 {
        self.lost + self.throttled + self.server_errors + self.resets
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    Lost,
    Throttle,
    ServerError,
    Reset,
}

struct State {
    faults: Faults,
    rng: fastrand::Rng,
    stats: FaultStats,
    /// Operations whose next request meets the configured fault whatever the PRNG says.
    forced: std::collections::BTreeSet<String>,
}

impl State {
    fn draw(&mut self, op: &str) -> (Fault, Duration) {
        let f = &self.faults;
        let u = self.rng.f64();
        let fault = if self.forced.remove(op) {
            let strongest = [(f.lost, Fault::Lost), (f.throttle, Fault::Throttle), (f.server_error, Fault::ServerError), (f.reset, Fault::Reset)]
                .into_iter()
                .filter(|(p, _)| *p > 0.0)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            strongest.map(|(_, fault)| fault).unwrap_or(Fault::None)
        } else if u < f.lost {
            Fault::Lost
        } else if u < f.lost + f.throttle {
            Fault::Throttle
        } else if u < f.lost + f.throttle + f.server_error {
            Fault::ServerError
        } else if u < f.lost + f.throttle + f.server_error + f.reset {
            Fault::Reset
        } else {
            Fault::None
        };
        let latency = f.latency.for_operation(op);
        let per_op = self.stats.by_operation.entry(op.to_string()).or_default();
        per_op.requests += 1;
        self.stats.requests += 1;
        match fault {
            Fault::None => {}
            Fault::Lost => {
                per_op.lost += 1;
                self.stats.lost += 1;
            }
            Fault::Throttle => {
                per_op.throttled += 1;
                self.stats.throttled += 1;
            }
            Fault::ServerError => {
                per_op.server_errors += 1;
                self.stats.server_errors += 1;
            }
            Fault::Reset => {
                per_op.resets += 1;
                self.stats.resets += 1;
            }
        }
        (fault, latency)
    }
}

struct Shared {
    upstream: String,
    state: Mutex<State>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// The proxy; it stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Binds 127.0.0.1 on a free port and forwards to `upstream` (e.g. "http://127.0.0.1:4566").
    pub fn start(upstream: &str, faults: Faults) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("fault proxy: bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("fault proxy: non-blocking listener");
        let addr = listener.local_addr().expect("fault proxy: local address");
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("fault proxy: tokio runtime");
        let client = {
            let _guard = runtime.enter();
            Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(5)).build_http()
        };
        let rng = fastrand::Rng::with_seed(faults.seed);
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            state: Mutex::new(State { faults, rng, stats: FaultStats::default(), forced: Default::default() }),
            client,
        });
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("fault proxy: tokio listener");
                    loop {
                        tokio::select! {
                            _ = &mut stopped => break,
                            accepted = listener.accept() => {
                                let Ok((stream, _)) = accepted else { continue };
                                let shared = for_thread.clone();
                                tokio::spawn(async move {
                                    let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
                                    // An error here is usually a fault this proxy injected on purpose.
                                    let _ = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
                                });
                            }
                        }
                    }
                });
                // Dropping the runtime here ends every open connection.
                drop(runtime);
            })
            .expect("fault proxy: thread");
        FaultProxy { addr, shared, stop: Some(stop), thread: Some(thread) }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the faults (and restarts the PRNG from their seed); stats are kept.
    pub fn set_faults(&self, faults: Faults) {
        let mut s = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        s.rng = fastrand::Rng::with_seed(faults.seed);
        s.faults = faults;
    }

    pub fn stats(&self) -> FaultStats {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner()).stats.clone()
    }

    /// The next request of each named operation meets the configured fault (the most likely
    /// one), so a test can be sure a kind's own calls were hit, not just its neighbours'.
    pub fn force_first(&self, operations: &[&str]) {
        let mut s = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        s.forced = operations.iter().map(|o| o.to_string()).collect();
    }

    pub fn reset_stats(&self) {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner()).stats = FaultStats::default();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Returned by the service to make hyper close the connection without an answer.
#[derive(Debug)]
struct Dropped;

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}
impl std::error::Error for Dropped {}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = req.into_parts();
    // Reading the body is what makes hyper answer `Expect: 100-continue`; chunked bodies arrive decoded.
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    if parts.uri.path().starts_with("/moto-api") {
        return forward(&shared, parts, body).await;
    }
    let service = signing_service(&parts);
    let op = operation(&parts, &body, &service);
    let (fault, latency) = shared.state.lock().unwrap_or_else(|e| e.into_inner()).draw(&op);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Fault::Reset => Err(Dropped),
        Fault::Throttle => Ok(error_response(protocol(&parts, &body, &service), true, &parts)),
        Fault::ServerError => Ok(error_response(protocol(&parts, &body, &service), false, &parts)),
        Fault::Lost => {
            // AWS performs the request; only the answer is lost.
            forward(&shared, parts, body).await?;
            Err(Dropped)
        }
        Fault::None => forward(&shared, parts, body).await,
    }
}

const HOP_BY_HOP: [&str; 8] = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "expect"];

async fn forward(shared: &Shared, parts: Parts, body: Bytes) -> Result<Response<Full<Bytes>>, Dropped> {
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let uri: hyper::Uri = format!("{}{}", shared.upstream, path).parse().map_err(|_| Dropped)?;
    let mut out = Request::builder().method(parts.method.clone()).uri(uri);
    for (name, value) in parts.headers.iter() {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != hyper::header::CONTENT_LENGTH {
            out = out.header(name, value);
        }
    }
    let out = out.body(Full::new(body)).map_err(|_| Dropped)?;
    let resp = match shared.client.request(out).await {
        Ok(r) => r,
        Err(e) => {
            let mut r = Response::new(Full::new(Bytes::from(format!("fault proxy: upstream failed: {e}"))));
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            return Ok(r);
        }
    };
    let (mut head, body) = resp.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    for h in HOP_BY_HOP {
        head.headers.remove(h);
    }
    Ok(Response::from_parts(head, Full::new(body)))
}

/// The service name from the SigV4 credential scope (`Credential=AKID/date/region/SERVICE/aws4_request`).
fn signing_service(parts: &Parts) -> String {
    let auth = parts.headers.get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    auth.split("Credential=").nth(1).and_then(|c| c.split(',').next()).and_then(|scope| scope.split('/').nth(3)).unwrap_or("").to_string()
}

fn form_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split('&').find_map(|kv| kv.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

/// The operation of a Smithy RPC v2 CBOR request, from its path `/service/SERVICE/operation/OPERATION`.
fn cbor_operation(path: &str) -> Option<&str> {
    path.strip_prefix("/service/")?.split_once("/operation/").map(|(_, op)| op.trim_end_matches('/')).filter(|op| !op.is_empty())
}

/// The operation name: `Action=` (query/EC2), `X-Amz-Target` (awsJson), the path of RPC v2 CBOR, or
/// from method and path (S3, EKS).
pub fn operation_name(method: &str, path_and_query: &str, target: Option<&str>, body: &[u8], service: &str) -> String {
    if let Some(t) = target {
        return t.rsplit('.').next().unwrap_or(t).to_string();
    }
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    if let Some(op) = cbor_operation(path) {
        return op.to_string();
    }
    if let Some(a) = form_field(query, "Action") {
        return a.to_string();
    }
    if let Some(a) = std::str::from_utf8(body).ok().and_then(|b| form_field(b, "Action")) {
        return a.to_string();
    }
    match service {
        "s3" => s3_operation(method, path, query),
        "eks" => eks_operation(method, path).unwrap_or_else(|| format!("{method} {path}")),
        "backup" => backup_operation(method, path).unwrap_or_else(|| format!("{method} {path}")),
        "route53" => route53_operation(method, path).unwrap_or_else(|| format!("{method} {path}")),
        _ => format!("{method} {path}"),
    }
}

fn operation(parts: &Parts, body: &[u8], service: &str) -> String {
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    let pq = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    operation_name(parts.method.as_str(), pq, target, body, service)
}

fn verb(method: &str) -> &'static str {
    match method {
        "PUT" => "Put",
        "DELETE" => "Delete",
        "HEAD" => "Head",
        "POST" => "Post",
        _ => "Get",
    }
}

fn s3_operation(method: &str, path: &str, query: &str) -> String {
    if let Some(id) = form_field(query, "x-id") {
        return id.to_string();
    }
    let object = path.trim_start_matches('/').contains('/');
    let sub = query.split('&').map(|kv| kv.split('=').next().unwrap_or("")).find(|k| !k.is_empty() && *k != "x-id");
    match (sub, object) {
        (None, false) => match method {
            "PUT" => "CreateBucket".into(),
            "DELETE" => "DeleteBucket".into(),
            "HEAD" => "HeadBucket".into(),
            _ if path == "/" => "ListBuckets".into(),
            _ => "ListObjects".into(),
        },
        (None, true) => format!("{}Object", verb(method)),
        (Some("list-type"), _) => "ListObjectsV2".into(),
        (Some("versions"), _) => "ListObjectVersions".into(),
        (Some("delete"), _) => "DeleteObjects".into(),
        (Some("location"), _) => "GetBucketLocation".into(),
        (Some("publicAccessBlock"), _) => format!("{}PublicAccessBlock", verb(method)),
        (Some("lifecycle"), _) => format!("{}BucketLifecycleConfiguration", verb(method)),
        (Some(s), _) => {
            let mut c = s.chars();
            let cap: String = c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default();
            format!("{}Bucket{cap}", verb(method))
        }
    }
}

fn eks_operation(method: &str, path: &str) -> Option<String> {
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let op = match (method, seg.as_slice()) {
        ("POST", ["clusters"]) => "CreateCluster",
        ("GET", ["clusters"]) => "ListClusters",
        ("GET", ["clusters", _]) => "DescribeCluster",
        ("DELETE", ["clusters", _]) => "DeleteCluster",
        ("POST", ["clusters", _, "update-config"]) => "UpdateClusterConfig",
        ("POST", ["clusters", _, "updates"]) => "UpdateClusterVersion",
        ("GET", ["clusters", _, "updates"]) => "ListUpdates",
        ("GET", ["clusters", _, "updates", _]) => "DescribeUpdate",
        ("POST", ["clusters", _, "node-groups"]) => "CreateNodegroup",
        ("GET", ["clusters", _, "node-groups"]) => "ListNodegroups",
        ("GET", ["clusters", _, "node-groups", _]) => "DescribeNodegroup",
        ("DELETE", ["clusters", _, "node-groups", _]) => "DeleteNodegroup",
        ("POST", ["clusters", _, "node-groups", _, "update-config"]) => "UpdateNodegroupConfig",
        ("POST", ["clusters", _, "node-groups", _, "update-version"]) => "UpdateNodegroupVersion",
        ("POST", ["clusters", _, "access-entries"]) => "CreateAccessEntry",
        ("GET", ["clusters", _, "access-entries"]) => "ListAccessEntries",
        ("GET", ["clusters", _, "access-entries", _]) => "DescribeAccessEntry",
        ("POST", ["clusters", _, "access-entries", _]) => "UpdateAccessEntry",
        ("DELETE", ["clusters", _, "access-entries", _]) => "DeleteAccessEntry",
        ("POST", ["clusters", _, "access-entries", _, "access-policies"]) => "AssociateAccessPolicy",
        ("GET", ["clusters", _, "access-entries", _, "access-policies"]) => "ListAssociatedAccessPolicies",
        ("DELETE", ["clusters", _, "access-entries", _, "access-policies", _]) => "DisassociateAccessPolicy",
        ("POST", ["clusters", _, "addons"]) => "CreateAddon",
        ("GET", ["clusters", _, "addons"]) => "ListAddons",
        ("GET", ["clusters", _, "addons", _]) => "DescribeAddon",
        ("DELETE", ["clusters", _, "addons", _]) => "DeleteAddon",
        ("POST", ["clusters", _, "addons", _, "update"]) => "UpdateAddon",
        ("POST", ["clusters", _, "pod-identity-associations"]) => "CreatePodIdentityAssociation",
        ("GET", ["clusters", _, "pod-identity-associations"]) => "ListPodIdentityAssociations",
        ("GET", ["clusters", _, "pod-identity-associations", _]) => "DescribePodIdentityAssociation",
        ("POST", ["clusters", _, "pod-identity-associations", _]) => "UpdatePodIdentityAssociation",
        ("DELETE", ["clusters", _, "pod-identity-associations", _]) => "DeletePodIdentityAssociation",
        ("POST", ["tags", ..]) => "TagResource",
        ("DELETE", ["tags", ..]) => "UntagResource",
        ("GET", ["tags", ..]) => "ListTagsForResource",
        _ => return None,
    };
    Some(op.to_string())
}

/// AWS Backup's REST paths (vaults, plans, selections, tags) to operation names.
fn backup_operation(method: &str, path: &str) -> Option<String> {
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let op = match (method, seg.as_slice()) {
        ("PUT", ["backup-vaults", _]) => "CreateBackupVault",
        ("GET", ["backup-vaults", _]) => "DescribeBackupVault",
        ("DELETE", ["backup-vaults", _]) => "DeleteBackupVault",
        ("GET", ["backup-vaults"]) => "ListBackupVaults",
        ("GET", ["backup-vaults", _, "recovery-points"]) => "ListRecoveryPointsByBackupVault",
        ("DELETE", ["backup-vaults", _, "recovery-points", ..]) => "DeleteRecoveryPoint",
        ("PUT", ["backup", "plans"]) => "CreateBackupPlan",
        ("GET", ["backup", "plans"]) => "ListBackupPlans",
        ("GET", ["backup", "plans", _]) => "GetBackupPlan",
        ("POST", ["backup", "plans", _]) => "UpdateBackupPlan",
        ("DELETE", ["backup", "plans", _]) => "DeleteBackupPlan",
        ("PUT", ["backup", "plans", _, "selections"]) => "CreateBackupSelection",
        ("GET", ["backup", "plans", _, "selections"]) => "ListBackupSelections",
        ("GET", ["backup", "plans", _, "selections", _]) => "GetBackupSelection",
        ("DELETE", ["backup", "plans", _, "selections", _]) => "DeleteBackupSelection",
        ("GET", ["tags", ..]) => "ListTags",
        ("POST", ["tags", ..]) => "TagResource",
        ("POST", ["untag", ..]) => "UntagResource",
        _ => return None,
    };
    Some(op.to_string())
}

/// Route 53's REST paths (`/2013-04-01/...`: zones, record sets, changes, tags) to operation names.
fn route53_operation(method: &str, path: &str) -> Option<String> {
    let seg: Vec<&str> = path.trim_matches('/').split('/').skip(1).collect();
    let op = match (method, seg.as_slice()) {
        ("POST", ["hostedzone"]) => "CreateHostedZone",
        ("GET", ["hostedzone"]) => "ListHostedZones",
        ("GET", ["hostedzonesbyname"]) => "ListHostedZonesByName",
        ("GET", ["hostedzone", _]) => "GetHostedZone",
        ("POST", ["hostedzone", _]) => "UpdateHostedZoneComment",
        ("DELETE", ["hostedzone", _]) => "DeleteHostedZone",
        ("POST", ["hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("GET", ["hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("POST", ["hostedzone", _, "associatevpc"]) => "AssociateVPCWithHostedZone",
        ("POST", ["hostedzone", _, "disassociatevpc"]) => "DisassociateVPCFromHostedZone",
        ("GET", ["change", _]) => "GetChange",
        ("POST", ["tags", _, _]) => "ChangeTagsForResource",
        ("GET", ["tags", _, _]) => "ListTagsForResource",
        ("POST", ["tags", _]) => "ListTagsForResources",
        _ => return None,
    };
    Some(op.to_string())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Ec2,
    Query,
    AwsJson,
    RestJson,
    S3,
    /// Smithy RPC v2 CBOR (CloudWatch).
    Cbor,
}

fn protocol(parts: &Parts, body: &[u8], service: &str) -> Protocol {
    if parts.headers.contains_key("x-amz-target") {
        return Protocol::AwsJson;
    }
    if service == "s3" {
        return Protocol::S3;
    }
    // Route 53 speaks restXml, whose errors are wrapped as the query protocol's are
    // (`<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>...`, 400 for throttling).
    if service == "route53" {
        return Protocol::Query;
    }
    if parts.headers.get("smithy-protocol").is_some_and(|v| v.as_bytes() == b"rpc-v2-cbor") || cbor_operation(parts.uri.path()).is_some() {
        return Protocol::Cbor;
    }
    let query_action = parts.uri.query().is_some_and(|q| form_field(q, "Action").is_some());
    let body_action = std::str::from_utf8(body).ok().is_some_and(|b| form_field(b, "Action").is_some());
    match (query_action || body_action, service) {
        (true, "ec2") => Protocol::Ec2,
        (true, _) => Protocol::Query,
        (false, _) => Protocol::RestJson,
    }
}

fn error_response(protocol: Protocol, throttle: bool, parts: &Parts) -> Response<Full<Bytes>> {
    let rid = "fault-proxy-0000";
    let (status, content_type, error_type, body) = match (protocol, throttle) {
        (Protocol::Ec2, t) => {
            let (status, code, msg) =
                if t { (503, "RequestLimitExceeded", "Request limit exceeded.") } else { (500, "InternalError", "An internal error has occurred.") };
            let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{msg}</Message></Error></Errors><RequestID>{rid}</RequestID></Response>");
            (status, "text/xml", None, body)
        }
        (Protocol::Query, t) => {
            let (status, kind, code, msg) =
                if t { (400, "Sender", "Throttling", "Rate exceeded") } else { (500, "Receiver", "InternalError", "An internal error has occurred.") };
            let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{msg}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>");
            (status, "text/xml", None, body)
        }
        (Protocol::AwsJson, t) => {
            let (status, code) = if t { (400, "ThrottlingException") } else { (500, "InternalError") };
            let ct = parts.headers.get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/x-amz-json-1.1");
            let body = format!("{{\"__type\":\"{code}\",\"message\":\"injected by the fault proxy\"}}");
            return build(status, ct, Some(code), body);
        }
        (Protocol::RestJson, t) => {
            let (status, code) = if t { (429, "ThrottlingException") } else { (500, "InternalError") };
            (status, "application/json", Some(code), "{\"message\":\"injected by the fault proxy\"}".to_string())
        }
        (Protocol::Cbor, t) => return cbor_error(t),
        (Protocol::S3, t) => {
            let (status, code, msg) = if t {
                (503, "SlowDown", "Please reduce your request rate.")
            } else {
                (500, "InternalError", "We encountered an internal error. Please try again.")
            };
            let body =
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{msg}</Message><RequestId>{rid}</RequestId></Error>");
            (status, "application/xml", None, body)
        }
    };
    build(status, content_type, error_type, body)
}

/// A CBOR text string (major type 3), for the short ASCII strings of an error body.
fn cbor_text(out: &mut Vec<u8>, s: &str) {
    match s.len() {
        n if n < 24 => out.push(0x60 | n as u8),
        n if n < 256 => out.extend([0x78, n as u8]),
        n => {
            out.push(0x79);
            out.extend((n.min(u16::MAX as usize) as u16).to_be_bytes());
        }
    }
    out.extend(s.as_bytes());
}

/// The RPC v2 CBOR error body `{"__type": ..., "message": ...}`; CloudWatch is awsQueryCompatible, so
/// the query protocol's code and fault side also travel in `x-amzn-query-error`, which the SDK reads first.
pub fn cbor_error_body(error_type: &str, message: &str) -> Vec<u8> {
    let mut out = vec![0xa2];
    cbor_text(&mut out, "__type");
    cbor_text(&mut out, error_type);
    cbor_text(&mut out, "message");
    cbor_text(&mut out, message);
    out
}

fn cbor_error(throttle: bool) -> Response<Full<Bytes>> {
    let (status, shape, query_error) = if throttle {
        (400, "com.amazonaws.cloudwatch#ThrottlingException", "Throttling;Sender")
    } else {
        (500, "com.amazonaws.cloudwatch#InternalServiceFault", "InternalServiceError;Receiver")
    };
    let mut r = Response::new(Full::new(Bytes::from(cbor_error_body(shape, "injected by the fault proxy"))));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = r.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/cbor"));
    headers.insert(HeaderName::from_static("smithy-protocol"), HeaderValue::from_static("rpc-v2-cbor"));
    headers.insert(HeaderName::from_static("x-amzn-query-error"), HeaderValue::from_static(query_error));
    headers.insert(HeaderName::from_static("x-amzn-requestid"), HeaderValue::from_static("fault-proxy-0000"));
    r
}

fn build(status: u16, content_type: &str, error_type: Option<&str>, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    if let Some(t) = error_type.and_then(|t| HeaderValue::from_str(t).ok()) {
        r.headers_mut().insert(HeaderName::from_static("x-amzn-errortype"), t);
    }
    r.headers_mut().insert(HeaderName::from_static("x-amzn-requestid"), HeaderValue::from_static("fault-proxy-0000"));
    r
}

#[cfg(test)]
mod tests {
    use super::{operation_name, Faults};

    #[test]
    fn operation_names_come_from_each_protocol() {
        assert_eq!(operation_name("POST", "/", None, b"Action=CreateSubnet&Version=2016-11-15", "ec2"), "CreateSubnet");
        assert_eq!(operation_name("POST", "/", Some("AWSWAF_20190729.CreateIPSet"), b"{}", "wafv2"), "CreateIPSet");
        assert_eq!(operation_name("PUT", "/bkt?tagging", None, b"", "s3"), "PutBucketTagging");
        assert_eq!(operation_name("PUT", "/bkt", None, b"", "s3"), "CreateBucket");
        assert_eq!(operation_name("PUT", "/bkt/k?x-id=PutObject", None, b"", "s3"), "PutObject");
        assert_eq!(operation_name("PUT", "/bkt?publicAccessBlock", None, b"", "s3"), "PutPublicAccessBlock");
        assert_eq!(operation_name("POST", "/clusters/c/node-groups", None, b"{}", "eks"), "CreateNodegroup");
        assert_eq!(operation_name("DELETE", "/clusters/c", None, b"", "eks"), "DeleteCluster");
        assert_eq!(operation_name("POST", "/clusters/c/addons/vpc-cni/update", None, b"{}", "eks"), "UpdateAddon");
        assert_eq!(operation_name("GET", "/clusters/c/pod-identity-associations?namespace=n", None, b"", "eks"), "ListPodIdentityAssociations");
        assert_eq!(operation_name("PUT", "/backup-vaults/v", None, b"{}", "backup"), "CreateBackupVault");
        assert_eq!(operation_name("POST", "/backup/plans/p", None, b"{}", "backup"), "UpdateBackupPlan");
        assert_eq!(operation_name("GET", "/backup/plans/p/", None, b"", "backup"), "GetBackupPlan");
        assert_eq!(operation_name("PUT", "/backup/plans/p/selections/", None, b"{}", "backup"), "CreateBackupSelection");
        assert_eq!(operation_name("GET", "/tags/arn%3Aaws%3Abackup%3Aus-east-1%3A1%3Abackup-vault%3Av/", None, b"", "backup"), "ListTags");
        assert_eq!(operation_name("POST", "/2013-04-01/hostedzone", None, b"<x/>", "route53"), "CreateHostedZone");
        assert_eq!(operation_name("POST", "/2013-04-01/hostedzone/Z1/rrset/", None, b"<x/>", "route53"), "ChangeResourceRecordSets");
        assert_eq!(operation_name("GET", "/2013-04-01/hostedzone/Z1/rrset?name=a&type=A", None, b"", "route53"), "ListResourceRecordSets");
        assert_eq!(operation_name("GET", "/2013-04-01/hostedzonesbyname?dnsname=a.com", None, b"", "route53"), "ListHostedZonesByName");
        assert_eq!(operation_name("GET", "/2013-04-01/change/C1", None, b"", "route53"), "GetChange");
        assert_eq!(operation_name("POST", "/2013-04-01/tags/hostedzone/Z1", None, b"<x/>", "route53"), "ChangeTagsForResource");
        assert_eq!(operation_name("DELETE", "/2013-04-01/hostedzone/Z1", None, b"", "route53"), "DeleteHostedZone");
        let cbor = [0xbf, 0xff];
        assert_eq!(operation_name("POST", "/service/GraniteServiceVersion20100801/operation/PutMetricAlarm", None, &cbor, "monitoring"), "PutMetricAlarm");
        assert_eq!(operation_name("POST", "/service/GraniteServiceVersion20100801/operation/DescribeAlarms", None, &cbor, "monitoring"), "DescribeAlarms");
    }

    /// The SDK reads the proxy's CBOR answers as AWS's: a throttle by its code (and retried), a 500
    /// as a transient failure (and retried), with the operation named from the CBOR path.
    #[test]
    fn cbor_faults_are_throttles_and_transient_errors_to_the_sdk() {
        use aws_sdk_cloudwatch::config::retry::RetryConfig;
        use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
        use aws_sdk_cloudwatch::error::ProvideErrorMetadata;

        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for (faults, code, status) in [(Faults::throttle(1.0, 7), "Throttling", 400), (Faults::server_error(1.0, 7), "InternalServiceError", 500)] {
            // Every request meets the fault, so the upstream is never reached.
            let proxy = super::FaultProxy::start("http://127.0.0.1:9", faults);
            let config = aws_sdk_cloudwatch::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("test", "test", None, None, "test"))
                .endpoint_url(proxy.endpoint())
                .retry_config(RetryConfig::standard().with_max_attempts(2).with_initial_backoff(std::time::Duration::from_millis(1)))
                .build();
            let client = aws_sdk_cloudwatch::Client::from_conf(config);
            let err = runtime.block_on(client.describe_alarms().alarm_names("a").send()).unwrap_err();
            assert_eq!(err.code(), Some(code), "{err:?}");
            assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(status));
            let stats = proxy.stats().op("DescribeAlarms");
            assert_eq!(stats.requests, 2, "the SDK retried the {code} answer as retryable: {stats:?}");
        }
    }
}
