//! Pure tests of the sink machines: a fake clock, a harness that drains `poll`, and a fake
//! tunnel service that answers with responses rendered by the `api` module's models.

mod batch;
mod committer;
mod props;
mod stream;
mod upsert;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use crate::api::rest::TableMeta;
use crate::api::stream::{StreamSession, StreamWriteAck, render_stream_write};
use crate::api::tunnel::UploadSession;
use crate::api::upsert::{Hasher as ApiHasher, UpsertSession, UpsertSlot, upsert_record_columns};
use crate::api::{ApiError, SessionStatus};
use crate::auth::Credentials;
use crate::codec::decode_all;
use crate::compress::{Compression, decompress};
use crate::http::{Method, Request, Response, Service};
use crate::machine::{Instant, Machine, Output, Reply, Token, TransportError, TransportErrorKind};
use crate::options::SinkConfig;
use crate::types::{Column, OdpsType, TableSchema};

// ---------------------------------------------------------------------- fixtures

pub(crate) fn schema(partitioned: bool) -> TableSchema {
    TableSchema::new(
        vec![
            Column::new("id", OdpsType::BigInt),
            Column::new("name", OdpsType::String),
        ],
        if partitioned {
            vec![Column::new("ds", OdpsType::String)]
        } else {
            vec![]
        },
    )
    .unwrap()
}

pub(crate) fn meta(partitioned: bool) -> TableMeta {
    TableMeta::new("t", schema(partitioned))
}

pub(crate) fn delta_meta(partitioned: bool, buckets: u32) -> TableMeta {
    let mut m = meta(partitioned);
    m.transactional = true;
    m.primary_key = vec!["id".into()];
    m.bucket_num = Some(buckets);
    m
}

pub(crate) fn config(opts: &[(&str, &str)]) -> SinkConfig {
    let mut b = SinkConfig::builder(
        "http://service.example.com/api",
        "p",
        "t",
        Credentials::access_key("id", "secret"),
    );
    for (k, v) in opts {
        b = b.option(*k, *v);
    }
    b.build().unwrap()
}

/// `id`, `name` rows (and `ds` when given).
pub(crate) fn rows(ids: &[i64], ds: Option<&[&str]>) -> RecordBatch {
    let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
    let mut fields = vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.to_vec())),
        Arc::new(StringArray::from(names)),
    ];
    if let Some(ds) = ds {
        fields.push(Field::new("ds", DataType::Utf8, true));
        cols.push(Arc::new(StringArray::from(ds.to_vec())));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

/// Rows with a name of `width` bytes (for size tests).
pub(crate) fn wide_rows(ids: std::ops::Range<i64>, width: usize, ds: Option<&str>) -> RecordBatch {
    let ids: Vec<i64> = ids.collect();
    let name = "x".repeat(width);
    let names: Vec<&str> = ids.iter().map(|_| name.as_str()).collect();
    let mut fields = vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ];
    let n = ids.len();
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(StringArray::from(names)),
    ];
    if let Some(ds) = ds {
        fields.push(Field::new("ds", DataType::Utf8, true));
        cols.push(Arc::new(StringArray::from(vec![ds; n])));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

pub(crate) fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

pub(crate) fn transport(kind: TransportErrorKind) -> Reply {
    Err(TransportError::new(kind, "injected"))
}

pub(crate) fn error(status: u16, code: &str) -> Response {
    ApiError::new(Service::Tunnel, status, code, format!("injected {code}"))
        .with_request_id("req-1")
        .to_response(Service::Tunnel)
}

/// Decodes a record-stream body (decompressing per its `Content-Encoding`) into (id, name)
/// pairs of the first two columns.
pub(crate) fn decode(req: &Request, columns: &[Column]) -> Vec<RecordBatch> {
    let codec = Compression::from_content_encoding(req.headers.get("content-encoding")).unwrap();
    let raw = decompress(codec, &req.body, 1 << 30).unwrap();
    decode_all(columns, &raw, 1024).unwrap()
}

pub(crate) fn ids_of(batches: &[RecordBatch]) -> Vec<i64> {
    let mut out = Vec::new();
    for b in batches {
        let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        out.extend(a.iter().map(|v| v.unwrap_or(i64::MIN)));
    }
    out
}

// ---------------------------------------------------------------------- harness

/// Drives a machine with a fake clock: drains `poll` after every step, collecting requests
/// and events.
pub(crate) struct Harness<M: Machine> {
    pub(crate) m: M,
    pub(crate) now: Instant,
    pub(crate) sent: VecDeque<(Token, Request)>,
    pub(crate) events: Vec<M::Event>,
}

impl<M: Machine> Harness<M> {
    pub(crate) fn new(m: M) -> Self {
        Self {
            m,
            now: Instant::ZERO,
            sent: VecDeque::new(),
            events: Vec::new(),
        }
    }

    pub(crate) fn drain(&mut self) {
        while let Some(o) = self.m.poll(self.now) {
            match o {
                Output::Send { token, request } => self.sent.push_back((token, request)),
                Output::Event(e) => self.events.push(e),
            }
        }
    }

    pub(crate) fn take_sent(&mut self) -> Vec<(Token, Request)> {
        self.drain();
        self.sent.drain(..).collect()
    }

    pub(crate) fn take_events(&mut self) -> Vec<M::Event> {
        self.drain();
        std::mem::take(&mut self.events)
    }

    pub(crate) fn reply(&mut self, token: Token, reply: Reply) {
        self.m.handle_reply(token, reply, self.now);
        self.drain();
    }

    pub(crate) fn ok(&mut self, token: Token, resp: Response) {
        self.reply(token, Ok(resp));
    }

    /// Moves the clock to `at` (when later) and drains.
    pub(crate) fn at(&mut self, at: Instant) {
        self.now = self.now.max(at);
        self.drain();
    }

    /// Jumps to the next deadline; false when there is none.
    pub(crate) fn jump_to_deadline(&mut self) -> bool {
        match self.m.next_deadline() {
            Some(d) => {
                self.at(d);
                true
            }
            None => false,
        }
    }

    /// Answers requests with `server` (and fires deadlines) until nothing is left, at most
    /// `max_steps` steps. Returns the steps taken.
    pub(crate) fn run(&mut self, server: &mut FakeServer, max_steps: usize) -> usize {
        let mut steps = 0;
        loop {
            self.drain();
            if let Some((token, req)) = self.sent.pop_front() {
                let reply = server.handle(&req);
                self.reply(token, reply);
            } else if !self.jump_to_deadline() {
                return steps;
            }
            steps += 1;
            assert!(steps < max_steps, "no quiescence after {max_steps} steps");
        }
    }
}

// ---------------------------------------------------------------------- fake service

/// What the fake server does with a matching request.
#[derive(Clone)]
pub(crate) enum FaultAction {
    /// Answer this instead of handling the request.
    Reply(Reply),
    /// Handle the request, then lose the response.
    ApplyThenLose,
}

pub(crate) struct Fault {
    pub(crate) matches: Box<dyn Fn(&Request) -> bool>,
    pub(crate) action: FaultAction,
    pub(crate) times: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct FakeUpload {
    pub(crate) partition: String,
    pub(crate) status: SessionStatus,
    pub(crate) blocks: BTreeMap<u32, Request>,
    pub(crate) commits: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct FakeStream {
    pub(crate) partition: String,
    pub(crate) writes: Vec<Request>,
}

#[derive(Debug, Clone)]
pub(crate) struct FakeUpsert {
    pub(crate) partition: String,
    pub(crate) status: SessionStatus,
    pub(crate) writes: Vec<Request>,
    pub(crate) polls_left: usize,
    pub(crate) commit_posts: usize,
    /// Order in which sessions reached `committed`.
    pub(crate) committed_seq: Option<u64>,
}

/// The request kinds the fake server tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    CreateUpload,
    GetUpload,
    PutBlock,
    CommitUpload,
    CreateStream,
    GetStream,
    PutStream,
    CreateUpsert,
    GetUpsert,
    PutUpsert,
    CommitUpsert,
    Other,
}

pub(crate) fn op_of(req: &Request) -> Op {
    let streams = req.path.ends_with("/streams");
    let upserts = req.path.ends_with("/upserts");
    match (req.method, streams, upserts) {
        (Method::Post, false, false) if req.has_query("uploads") => Op::CreateUpload,
        (Method::Get, false, false) if req.has_query("uploadid") => Op::GetUpload,
        (Method::Put, false, false) if req.has_query("blockid") => Op::PutBlock,
        (Method::Post, false, false) if req.has_query("uploadid") => Op::CommitUpload,
        (Method::Post, true, _) if !req.has_query("uploadid") => Op::CreateStream,
        (Method::Get, true, _) => Op::GetStream,
        (Method::Put, true, _) => Op::PutStream,
        (Method::Post, _, true) if !req.has_query("upsertid") => Op::CreateUpsert,
        (Method::Get, _, true) => Op::GetUpsert,
        (Method::Put, _, true) => Op::PutUpsert,
        (Method::Post, _, true) => Op::CommitUpsert,
        _ => Op::Other,
    }
}

pub(crate) struct FakeServer {
    pub(crate) schema: TableSchema,
    pub(crate) uploads: BTreeMap<String, FakeUpload>,
    pub(crate) streams: BTreeMap<String, FakeStream>,
    pub(crate) upserts: BTreeMap<String, FakeUpsert>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) log: Vec<Op>,
    pub(crate) slots: Vec<(String, String)>,
    pub(crate) slot_num_reply: Option<u32>,
    pub(crate) buckets: u32,
    pub(crate) upsert_slots: usize,
    pub(crate) commit_polls: usize,
    pub(crate) hash_key: Vec<String>,
    pub(crate) hasher: ApiHasher,
    /// Keep request bodies of blocks (false: store the request without its body, to save
    /// memory in volume tests).
    pub(crate) keep_bodies: bool,
    next: u64,
}

impl FakeServer {
    pub(crate) fn new(schema: TableSchema) -> Self {
        Self {
            schema,
            uploads: BTreeMap::new(),
            streams: BTreeMap::new(),
            upserts: BTreeMap::new(),
            faults: Vec::new(),
            log: Vec::new(),
            slots: vec![
                ("1".into(), "10.0.0.1:8080".into()),
                ("2".into(), "10.0.0.2:8080".into()),
            ],
            slot_num_reply: None,
            buckets: 4,
            upsert_slots: 2,
            commit_polls: 0,
            hash_key: vec!["id".into()],
            hasher: ApiHasher::Default,
            keep_bodies: true,
            next: 0,
        }
    }

    /// Adds a fault for the next `times` requests that match.
    pub(crate) fn fault(
        &mut self,
        times: usize,
        matches: impl Fn(&Request) -> bool + 'static,
        action: FaultAction,
    ) {
        self.faults.push(Fault {
            matches: Box::new(matches),
            action,
            times,
        });
    }

    /// A fault on every request of kind `op`.
    pub(crate) fn fault_op(&mut self, op: Op, times: usize, action: FaultAction) {
        self.fault(times, move |r| op_of(r) == op, action);
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:04}", self.next)
    }

    pub(crate) fn count(&self, op: Op) -> usize {
        self.log.iter().filter(|o| **o == op).count()
    }

    pub(crate) fn handle(&mut self, req: &Request) -> Reply {
        let op = op_of(req);
        self.log.push(op);
        let mut lose = false;
        if let Some(f) = self
            .faults
            .iter_mut()
            .find(|f| f.times > 0 && (f.matches)(req))
        {
            f.times -= 1;
            match f.action.clone() {
                FaultAction::Reply(r) => return r,
                FaultAction::ApplyThenLose => lose = true,
            }
        }
        let resp = self.apply(op, req);
        if lose {
            return Err(TransportError::new(
                TransportErrorKind::Closed,
                "response lost",
            ));
        }
        Ok(resp)
    }

    fn upload_json(&self, id: &str) -> Response {
        let u = &self.uploads[id];
        let s = UploadSession {
            id: id.to_string(),
            status: u.status.clone(),
            schema: self.schema.clone(),
            blocks: u.blocks.keys().copied().collect(),
            max_field_size: Some(8 << 20),
            is_overwrite: false,
            quota_name: None,
            owner: None,
            initiated: None,
        };
        Response::new(201, serde_json::to_vec(&s.to_json_model()).unwrap())
    }

    fn stream_json(&self, id: &str) -> Response {
        let s = StreamSession {
            name: id.to_string(),
            status: SessionStatus::Normal,
            schema: self.schema.clone(),
            slots: self.slots.clone(),
            schema_version: Some("0".into()),
            quota_name: None,
        };
        Response::new(200, serde_json::to_vec(&s.to_json_model()).unwrap())
    }

    fn upsert_json(&self, id: &str, status: SessionStatus) -> Response {
        let per = self.buckets.div_ceil(self.upsert_slots as u32).max(1);
        let slots = (0..self.upsert_slots)
            .map(|i| UpsertSlot {
                slot_id: (i + 1).to_string(),
                buckets: (0..self.buckets)
                    .filter(|b| (*b / per) as usize == i)
                    .collect(),
                worker_addr: format!("10.0.1.{}:8080", i + 1),
            })
            .filter(|s| !s.buckets.is_empty())
            .collect();
        let s = UpsertSession {
            id: id.to_string(),
            status,
            schema: TableSchema {
                columns: self.schema.columns.clone(),
                partition_columns: vec![],
            },
            column_ids: (0..self.schema.columns.len())
                .map(|i| i.to_string())
                .collect(),
            hash_key: self.hash_key.clone(),
            hasher: self.hasher,
            slots,
            enable_partial_update: false,
            quota_name: None,
        };
        Response::new(200, serde_json::to_vec(&s.to_json_model()).unwrap())
    }

    fn apply(&mut self, op: Op, req: &Request) -> Response {
        let part = req.query_param("partition").unwrap_or("").to_string();
        match op {
            Op::CreateUpload => {
                let id = self.id("up");
                self.uploads.insert(
                    id.clone(),
                    FakeUpload {
                        partition: part,
                        status: SessionStatus::Normal,
                        blocks: BTreeMap::new(),
                        commits: 0,
                    },
                );
                self.upload_json(&id)
            }
            Op::GetUpload => {
                let id = req.query_param("uploadid").unwrap_or("");
                if !self.uploads.contains_key(id) {
                    return error(404, "NoSuchUpload");
                }
                self.upload_json(id)
            }
            Op::PutBlock => {
                let id = req.query_param("uploadid").unwrap_or("").to_string();
                let block: u32 = req.query_param("blockid").unwrap().parse().unwrap();
                match self.uploads.get_mut(&id) {
                    None => error(404, "NoSuchUpload"),
                    Some(u) if u.status != SessionStatus::Normal => error(409, "StatusConflict"),
                    Some(u) => {
                        let mut kept = req.clone();
                        if !self.keep_bodies {
                            kept.body = Default::default();
                        }
                        u.blocks.insert(block, kept);
                        Response::new(200, "")
                    }
                }
            }
            Op::CommitUpload => {
                let id = req.query_param("uploadid").unwrap_or("").to_string();
                match self.uploads.get_mut(&id) {
                    None => error(404, "NoSuchUpload"),
                    Some(u) => {
                        u.commits += 1;
                        u.status = SessionStatus::Closed;
                        self.upload_json(&id)
                    }
                }
            }
            Op::CreateStream => {
                let id = self.id("st");
                self.streams.insert(
                    id.clone(),
                    FakeStream {
                        partition: part,
                        writes: Vec::new(),
                    },
                );
                self.stream_json(&id)
            }
            Op::GetStream => {
                let id = req.query_param("uploadid").unwrap_or("").to_string();
                if !self.streams.contains_key(&id) {
                    return error(404, "StreamSessionNotFound");
                }
                self.stream_json(&id)
            }
            Op::PutStream => {
                let id = req.query_param("uploadid").unwrap_or("").to_string();
                let Some(s) = self.streams.get_mut(&id) else {
                    return error(404, "StreamSessionNotFound");
                };
                s.writes.push(req.clone());
                let slot = req.query_param("slotid").unwrap_or("");
                let addr = self
                    .slots
                    .iter()
                    .find(|(i, _)| i == slot)
                    .map(|(_, a)| a.clone())
                    .unwrap_or_else(|| "10.9.9.9:1".into());
                render_stream_write(&StreamWriteAck {
                    routed_server: addr,
                    slot_num: self.slot_num_reply.unwrap_or(self.slots.len() as u32),
                })
            }
            Op::CreateUpsert => {
                let id = self.id("us");
                self.upserts.insert(
                    id.clone(),
                    FakeUpsert {
                        partition: part,
                        status: SessionStatus::Normal,
                        writes: Vec::new(),
                        polls_left: self.commit_polls,
                        commit_posts: 0,
                        committed_seq: None,
                    },
                );
                self.upsert_json(&id, SessionStatus::Normal)
            }
            Op::GetUpsert => {
                let id = req.query_param("upsertid").unwrap_or("").to_string();
                match self.upserts.get(&id) {
                    None => error(404, "UpsertSessionNotFound"),
                    Some(u) => {
                        let st = u.status.clone();
                        self.upsert_json(&id, st)
                    }
                }
            }
            Op::PutUpsert => {
                let id = req.query_param("upsertid").unwrap_or("").to_string();
                match self.upserts.get_mut(&id) {
                    None => error(404, "UpsertSessionNotFound"),
                    Some(u) if u.status != SessionStatus::Normal => error(409, "StatusConflict"),
                    Some(u) => {
                        u.writes.push(req.clone());
                        Response::new(200, "")
                    }
                }
            }
            Op::CommitUpsert => {
                let id = req.query_param("upsertid").unwrap_or("").to_string();
                let Some(u) = self.upserts.get_mut(&id) else {
                    return error(404, "UpsertSessionNotFound");
                };
                u.commit_posts += 1;
                if u.polls_left > 0 {
                    u.polls_left -= 1;
                    u.status = SessionStatus::Committing;
                } else {
                    u.status = SessionStatus::Committed;
                    if u.committed_seq.is_none() {
                        self.next += 1;
                        u.committed_seq = Some(self.next);
                    }
                }
                let st = u.status.clone();
                self.upsert_json(&id, st)
            }
            Op::Other => error(400, "InvalidArgument"),
        }
    }

    /// Ids of every block body of `upload` in block order.
    pub(crate) fn upload_ids(&self, upload: &str) -> Vec<i64> {
        let cols = &self.schema.columns;
        self.uploads[upload]
            .blocks
            .values()
            .flat_map(|r| ids_of(&decode(r, cols)))
            .collect()
    }

    /// Ids of every stream write of the partition, in arrival order.
    pub(crate) fn stream_ids(&self, partition: &str) -> Vec<i64> {
        let cols = &self.schema.columns;
        self.streams
            .values()
            .filter(|s| s.partition == partition)
            .flat_map(|s| s.writes.iter().flat_map(|r| ids_of(&decode(r, cols))))
            .collect()
    }

    pub(crate) fn upsert_columns(&self) -> Vec<Column> {
        upsert_record_columns(&self.schema.columns)
    }
}

/// One decoded upsert record: (id, name, `__operation`, `__value_cols`).
pub(crate) type UpsertRow = (i64, Option<String>, i8, Vec<i64>);

/// The records of decoded upsert batches.
pub(crate) fn upsert_rows(batches: &[RecordBatch]) -> Vec<UpsertRow> {
    use arrow_array::{Int8Array, ListArray};
    let mut out = Vec::new();
    for b in batches {
        let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let names = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        let n = b.num_columns();
        let ops = b
            .column(n - 3)
            .as_any()
            .downcast_ref::<Int8Array>()
            .unwrap();
        let vals = b
            .column(n - 1)
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        assert!(b.column(n - 5).is_null(0), "__version is NULL");
        assert!(b.column(n - 4).is_null(0), "__app_version is NULL");
        assert!(b.column(n - 2).is_null(0), "__key_cols is NULL");
        for i in 0..b.num_rows() {
            let v = vals.value(i);
            let v = v.as_any().downcast_ref::<Int64Array>().unwrap();
            out.push((
                ids.value(i),
                names.is_valid(i).then(|| names.value(i).to_string()),
                ops.value(i),
                v.iter().map(|x| x.unwrap()).collect(),
            ));
        }
    }
    out
}
