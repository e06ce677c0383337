//! One publisher fanned out to N subscribers through the real engine:
//! SRTP unprotect of the incoming packet, rewriting, SRTP protect for each
//! subscriber. Reported per forwarded packet (criterion's "elements").

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use huiyi_bench::{fanout, replay};

const FANOUT: [usize; 3] = [1, 10, 150];

fn allocations() {
    println!("allocations per forwarded packet (video, 1000-byte payload):");
    for n in FANOUT {
        let mut sim = fanout(n);
        let datagrams = sim.capture_video(0, 2000);
        replay(&mut sim, &datagrams[..1000]); // warm caches and buffers
        let rest = &datagrams[1000..];
        let mut forwarded = 0;
        let info = allocation_counter::measure(|| forwarded = replay(&mut sim, rest));
        println!(
            "  N = {n:>3}: {:.2} allocations, {:.0} bytes per forwarded packet ({forwarded} forwarded)",
            info.count_total as f64 / forwarded as f64,
            info.bytes_total as f64 / forwarded as f64
        );
    }
}

fn forwarding(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(20);
    for n in FANOUT {
        let mut sim = fanout(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iters| {
                let datagrams = sim.capture_video(0, iters);
                let start = Instant::now();
                let forwarded = replay(&mut sim, &datagrams);
                let elapsed = start.elapsed();
                assert_eq!(
                    forwarded,
                    iters * n as u64,
                    "every packet reached every subscriber"
                );
                elapsed
            })
        });
    }
    group.finish();
}

fn main() {
    if std::env::args().any(|a| a == "--bench") {
        allocations();
    }
    let mut c = Criterion::default().configure_from_args();
    forwarding(&mut c);
    c.final_summary();
}
