//! The `huiyi` program as a process, for tests that kill, stop and start
//! it again on the same data directory (restart, recording): free ports on
//! loopback, its log appended to `server.log` in the data directory (and
//! printed when a test fails), killed if the test ends early.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on loopback.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A loopback port free for UDP and for TCP alike: the media port (the
/// server's ICE-TCP listener takes the UDP port's number too; a port free
/// for UDP only made the server exit at start, "cannot bind ICE-TCP
/// listener", now and then).
pub fn free_media_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The server process, killed if the test ends early (a panic).
pub struct Running(pub Child);

impl Running {
    /// SIGKILL (a power loss, the OOM killer), and waits.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// SIGTERM (a graceful stop), and waits.
    pub fn stop(&mut self) {
        let pid = self.0.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.kill();
        }
    }
}

/// How to start the server: its program, data directory and ports.
pub struct ServerProcess {
    /// The program (`CARGO_BIN_EXE_huiyi-server-for-tests`).
    pub exe: PathBuf,
    /// Its data directory.
    pub dir: PathBuf,
    /// Its HTTP listener.
    pub http: SocketAddr,
    /// Its media worker's UDP port.
    pub udp: u16,
    /// More `--set key=value` settings.
    pub settings: Vec<String>,
}

impl ServerProcess {
    /// On free loopback ports, one media worker, no bandwidth estimation
    /// (the `webrtc` crate's feedback collapses str0m's estimate on a clean
    /// loopback, tests/src/server.rs).
    pub fn new(exe: &str, dir: &Path) -> Self {
        ServerProcess {
            exe: exe.into(),
            dir: dir.to_path_buf(),
            http: format!("127.0.0.1:{}", free_tcp_port()).parse().expect("addr"),
            udp: free_media_port(),
            settings: Vec::new(),
        }
    }

    /// Starts the program; returns once it answers.
    pub async fn start(&self) -> Running {
        // huiyi reads HUIYI_* variables as configuration: none of the test's own may reach it.
        let mut cmd = Command::new(&self.exe);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("HUIYI_")) {
            cmd.env_remove(k);
        }
        cmd.args(["--listen", &self.http.to_string(), "--data-dir"]).arg(&self.dir);
        let udp = format!("sfu.udp_port={}", self.udp);
        let mut sets = vec![udp, "sfu.workers=1".into(), "sfu.bwe_initial_kbps=0".into()];
        sets.push("sfu.bind_address=\"127.0.0.1\"".into());
        sets.extend(self.settings.iter().cloned());
        for s in sets {
            cmd.args(["--set", &s]);
        }
        let mut child = cmd
            .env("HUIYI_LOG", "info,huiyi_sfu=debug,huiyi_signaling=debug")
            .stdout(self.log())
            .stderr(self.log())
            .spawn()
            .expect("spawn the server");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(self.http).await.is_ok() {
                return Running(child);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server did not start");
    }

    /// The server's log, every run appended.
    fn log(&self) -> Stdio {
        std::fs::create_dir_all(&self.dir).expect("data dir");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("the server's log");
        Stdio::from(file)
    }

    /// Prints the log's last `n` lines (when a test is about to fail).
    pub fn print_log_tail(&self, n: usize) {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(n).collect();
        eprintln!("the server's log, last lines:");
        for line in tail.iter().rev() {
            eprintln!("{line}");
        }
    }

    /// The signaling WebSocket's URL.
    pub fn ws(&self) -> String {
        format!("ws://{}/ws", self.http)
    }
}

/// A join token for participant `pid` of `meeting` (titled `title`), valid
/// for an hour, signed with the server's key.
pub fn token(
    signer: &huiyi_signaling::token::Signer,
    meeting: &str,
    title: &str,
    (pid, name): (&str, &str),
    role: huiyi_signaling::token::Role,
) -> String {
    let now = huiyi_signaling::clock::unix_secs() as u64;
    signer.sign(&huiyi_signaling::token::Claims {
        m: meeting.into(),
        t: title.into(),
        p: pid.into(),
        n: name.into(),
        r: role,
        nbf: now - 60,
        exp: now + 3600,
        e: 0,
    })
}

/// Waits (blocking) for file `name` in `dir`; its content.
pub fn wait_file(dir: &Path, name: &str, limit: Duration) -> String {
    let end = Instant::now() + limit;
    loop {
        if let Ok(s) = std::fs::read_to_string(dir.join(name)) {
            return s;
        }
        assert!(Instant::now() < end, "{name} did not come within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
