//! One publisher fanned out to N subscribers through the real engine:
//! SRTP unprotect of the incoming packet, rewriting, SRTP protect for each
//! subscriber. Reported per forwarded packet (criterion's "elements").

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use huiyi_bench::{fanout, fanout_beside, replay};
use huiyi_sfu::sim::Sim;

const FANOUT: [usize; 3] = [1, 10, 150];

fn allocations() {
    println!("allocations per forwarded packet (video, 1000-byte payload):");
    for n in FANOUT {
        let mut sim = fanout(n);
        // Warm up until str0m's per-stream RTX caches and queues reach their
        // steady size, so growth is not counted as per-packet cost.
        for _ in 0..5 {
            let warm = sim.capture_video(0, 1000);
            replay(&mut sim, &warm);
        }
        let datagrams = sim.capture_video(0, 1000);
        let rest = &datagrams[..];
        let mut forwarded = 0;
        let info = allocation_counter::measure(|| forwarded = replay(&mut sim, rest));
        println!(
            "  N = {n:>3}: {:.2} allocations, {:.0} bytes per forwarded packet ({forwarded} forwarded)",
            info.count_total as f64 / forwarded as f64,
            info.bytes_total as f64 / forwarded as f64
        );
    }
}

/// Per-chunk timings, to see the spread criterion summarises.
fn spread() {
    println!("ns per forwarded packet over 30 chunks of 1000 incoming packets (min / median / max):");
    for n in FANOUT {
        let mut sim = fanout(n);
        let mut per: Vec<f64> = (0..30)
            .map(|_| {
                let datagrams = sim.capture_video(0, 1000);
                let start = Instant::now();
                let forwarded = replay(&mut sim, &datagrams);
                start.elapsed().as_nanos() as f64 / forwarded as f64
            })
            .collect();
        per.sort_by(f64::total_cmp);
        println!("  N = {n:>3}: {:.0} / {:.0} / {:.0}", per[0], per[per.len() / 2], per[per.len() - 1]);
    }
}

/// Times `sim`'s fan-out to its `n` subscribers per delivered packet.
fn bench_fanout(group: &mut BenchmarkGroup<'_, WallTime>, mut sim: Sim, n: usize) {
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(BenchmarkId::from_parameter(n), |b| {
        b.iter_custom(|iters| {
            // Captured in chunks: a whole run's datagrams would be gigabytes.
            let mut elapsed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(1000);
                left -= chunk;
                let datagrams = sim.capture_video(0, chunk);
                let start = Instant::now();
                let forwarded = replay(&mut sim, &datagrams);
                elapsed += start.elapsed();
                assert_eq!(forwarded, chunk * n as u64, "every packet reached every subscriber");
            }
            elapsed
        })
    });
}

fn forwarding(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    group.measurement_time(Duration::from_secs(5)).sample_size(20);
    for n in FANOUT {
        bench_fanout(&mut group, fanout(n), n);
    }
    group.finish();
    // The worker's timeout pass should cost what is due, not what the
    // worker holds: the same fan-out beside 500 quiet peers.
    let mut group = c.benchmark_group("fanout_beside_500_quiet_peers");
    group.measurement_time(Duration::from_secs(5)).sample_size(20);
    bench_fanout(&mut group, fanout_beside(10, 500), 10);
    group.finish();
}

fn main() {
    if std::env::args().any(|a| a == "--bench") {
        allocations();
        spread();
    }
    let mut c = Criterion::default().configure_from_args();
    forwarding(&mut c);
    c.final_summary();
}
