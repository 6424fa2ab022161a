//! A multi-node KRaft cluster of `integration/kafka start --nodes N`, and its nodes' faults as
//! methods: kill, pause, resume, restart.

use std::process::Command;
use std::time::Duration;

use crate::{kafka, kafka_script};

/// A running cluster; dropping it stops every node, also when an assertion failed.
#[derive(Debug)]
pub struct Cluster {
    /// The bootstrap list the script printed (`host:port,...`).
    pub bootstrap: String,
    /// The `transaction.version` it was formatted with (`"1"` or `"2"`).
    pub tv: &'static str,
    nodes: Nodes,
}

impl Cluster {
    /// Starts `count` nodes on fresh data (a cluster an interrupted run left is stopped first,
    /// with its topics).
    pub fn start(tv: &'static str, count: usize) -> Result<Self, String> {
        let nodes = Nodes { count };
        kafka(&["stop", "--nodes", &nodes.count.to_string()])?;
        let bootstrap = kafka(&["start", "--nodes", &nodes.count.to_string(), "--tv", tv])?;
        Ok(Self {
            bootstrap,
            tv,
            nodes,
        })
    }

    /// The nodes, to inflict faults on (a `Copy` handle: hand it to a blocking task).
    pub fn nodes(&self) -> Nodes {
        self.nodes
    }

    /// What a failure report needs: node states, and the last lines of each node's server.log
    /// about `transactional_id` and producer epochs.
    pub fn evidence(&self, transactional_id: &str) -> String {
        // `status` exits 3 when a node is down, which is exactly when its output matters.
        let mut report = Command::new(kafka_script())
            .args(["status", "--nodes", &self.nodes.count.to_string()])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_else(|e| e.to_string());
        for node in 1..=self.nodes.count {
            let path = self.nodes.log_path(node as i32).unwrap_or_default();
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            let relevant: Vec<&str> = (log.lines())
                .filter(|l| l.contains(transactional_id) || l.contains("producer epoch"))
                .collect();
            let last = relevant
                .get(relevant.len().saturating_sub(20)..)
                .unwrap_or_default();
            report.push_str(&format!(
                "\n--- node {node} ({path}), lines about {transactional_id} or epochs:\n{}",
                last.join("\n")
            ));
        }
        report
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = kafka(&["stop", "--nodes", &self.nodes.count.to_string()]) {
            eprintln!("could not stop the tv{} cluster: {e}", self.tv);
        }
    }
}

/// The nodes of a [`Cluster`], by Kafka node id (1..=count). Each fault blocks until the script
/// is done: call it off the async workers (`tokio::task::spawn_blocking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nodes {
    count: usize,
}

impl Nodes {
    /// How many nodes the cluster has.
    pub fn count(self) -> usize {
        self.count
    }

    /// SIGKILL `node`.
    pub fn kill(self, node: i32) -> Result<(), String> {
        self.run("kill", node)
    }

    /// SIGSTOP `node`: it keeps its sockets but answers nothing.
    pub fn pause(self, node: i32) -> Result<(), String> {
        self.run("pause", node)
    }

    /// SIGCONT a paused `node`.
    pub fn resume(self, node: i32) -> Result<(), String> {
        self.run("resume", node)
    }

    /// Starts a killed `node` again on its data; retried while its old process still holds a
    /// port.
    pub fn restart(self, node: i32) -> Result<(), String> {
        let mut last = Err(String::new());
        for _ in 0..10 {
            last = self.run("restart", node);
            if last.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        last
    }

    /// The path of `node`'s server.log.
    pub fn log_path(self, node: i32) -> Result<String, String> {
        kafka(&[
            "logs",
            &node.to_string(),
            "--nodes",
            &self.count.to_string(),
        ])
    }

    fn run(self, fault: &str, node: i32) -> Result<(), String> {
        kafka(&[fault, &node.to_string(), "--nodes", &self.count.to_string()]).map(drop)
    }
}
