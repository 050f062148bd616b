//! Reads of `/proc`: the resident memory and CPU time of a server's whole process tree,
//! the bench's own CPU time, and the machine facts printed with the results.
//!
//! A server under test may be many processes (mlflow runs uvicorn workers, a job runner
//! and huey consumers), so every figure is summed over the root process and all of its
//! descendants, found by following `ppid` links in `/proc/*/stat`.
//!
//! Invariants:
//! - a process that vanishes between listing and reading is skipped, never an error;
//! - RSS is the sum of each process's `VmRSS`, so pages shared between forked workers are
//!   counted once per process (the same way `ps`/`top` users add it up).

use std::collections::HashMap;
use std::fs;

/// Clock ticks per second of `utime`/`stime` in `/proc/*/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// The fields of `/proc/<pid>/stat` the bench needs.
struct Stat {
    state: char,
    ppid: u32,
    pgrp: u32,
    /// utime + stime + cutime + cstime, in ticks.
    cpu_ticks: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces; fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok());
    Some(Stat {
        state: f.first()?.chars().next()?,
        ppid: num(1)? as u32,
        pgrp: num(2)? as u32,
        cpu_ticks: num(11)? + num(12)? + num(13)? + num(14)?,
    })
}

fn all_pids() -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// `root` and all of its live descendants.
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for pid in all_pids() {
        if let Some(st) = read_stat(pid)
            && st.state != 'Z'
        {
            children.entry(st.ppid).or_default().push(pid);
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(kids) = children.get(&out[i]) {
            out.extend(kids);
        }
        i += 1;
    }
    out
}

/// Sum of `VmRSS` over the process tree of `root`, in bytes.
pub fn tree_rss_bytes(root: u32) -> u64 {
    process_tree(root).into_iter().map(rss_bytes).sum()
}

fn rss_bytes(pid: u32) -> u64 {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU seconds (user + system, including reaped children) used so far by the tree of `root`.
pub fn tree_cpu_secs(root: u32) -> f64 {
    process_tree(root)
        .into_iter()
        .filter_map(read_stat)
        .map(|s| s.cpu_ticks as f64 / TICKS_PER_SEC)
        .sum()
}

/// CPU seconds used so far by this bench process.
pub fn self_cpu_secs() -> f64 {
    read_stat(std::process::id()).map_or(0.0, |s| s.cpu_ticks as f64 / TICKS_PER_SEC)
}

/// Whether any live (non-zombie) process is still in process group `pgid`.
pub fn group_alive(pgid: u32) -> bool {
    all_pids()
        .into_iter()
        .filter_map(read_stat)
        .any(|s| s.pgrp == pgid && s.state != 'Z')
}

/// Facts about the machine, printed with the results.
pub struct MachineInfo {
    pub nproc: usize,
    pub cpu_model: String,
    pub mem_gib: f64,
    pub kernel: String,
}

impl MachineInfo {
    pub fn read() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_string(), |(_, v)| v.trim().to_string());
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kb = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
        Self {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            mem_gib: mem_kb as f64 / (1024.0 * 1024.0),
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".into(), |s| s.trim().to_string()),
        }
    }
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` prints them.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}
