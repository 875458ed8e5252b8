//! Draws the capacity benchmark's plot: p99 tick→client latency against connected
//! clients, one line per server and tick rate, with each rate's budget (one tick period)
//! as a flat line in the same colour.
//!
//! ```text
//! cargo run --release -p tickcast-loadgen --bin tickcast-plot -- docs/benchmarks/capacity.csv docs/benchmarks/capacity.svg
//! ```
//!
//! Input: the CSV `scripts/bench-capacity` writes (a header row naming the columns; this
//! reads `server`, `rate_hz`, `connected` and `p99_ms`). Without arguments it prints how
//! to use it and exits.

use plotters::prelude::*;
use std::collections::BTreeMap;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let [csv, svg] = &args[..] else {
        println!("tickcast-plot: run with CSV_PATH SVG_PATH (see scripts/bench-capacity)");
        return;
    };
    if let Err(e) = plot(csv, svg) {
        eprintln!("tickcast-plot: {e}");
        std::process::exit(1);
    }
}

type Series = BTreeMap<(String, u32), Vec<(f64, f64)>>;

fn read(csv: &str) -> Result<Series, String> {
    let text = std::fs::read_to_string(csv).map_err(|e| format!("{csv}: {e}"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty CSV")?.split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).ok_or(format!("no column {name}"));
    let (server, rate, clients, p99) = (col("server")?, col("rate_hz")?, col("connected")?, col("p99_ms")?);
    let mut series = Series::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
        let (Some(r), Some(c), Some(p)) = (num(rate), num(clients), num(p99)) else { continue };
        series.entry((f[server].to_string(), r as u32)).or_default().push((c, p.max(1.0)));
    }
    for points in series.values_mut() {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok(series)
}

fn plot(csv: &str, svg: &str) -> Result<(), Box<dyn std::error::Error>> {
    let series = read(csv)?;
    let x_max = series.values().flatten().map(|p| p.0).fold(100.0, f64::max) * 1.05;
    let y_max = series.values().flatten().map(|p| p.1).fold(100.0, f64::max) * 1.5;
    let root = SVGBackend::new(svg, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("arena-20: p99 tick→client latency vs clients (server on one core)", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_max, (1f64..y_max).log_scale())?;
    chart.configure_mesh().x_desc("connected clients").y_desc("p99 latency (ms, log)").draw()?;
    let palette = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(214, 39, 40)];
    let rates: Vec<u32> = {
        let mut r: Vec<u32> = series.keys().map(|k| k.1).collect();
        r.sort_unstable();
        r.dedup();
        r
    };
    for ((server, rate), points) in &series {
        let colour = palette[rates.iter().position(|r| r == rate).unwrap_or(0) % palette.len()];
        let style = if server == "floor" { colour.mix(0.45).stroke_width(2) } else { colour.stroke_width(3) };
        chart
            .draw_series(LineSeries::new(points.iter().copied(), style))?
            .label(format!("{server} {rate} Hz"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    for (i, rate) in rates.iter().enumerate() {
        let budget = 1000.0 / *rate as f64;
        let colour = palette[i % palette.len()].mix(0.6);
        chart
            .draw_series(LineSeries::new([(0.0, budget), (x_max, budget)], colour.stroke_width(1)))?
            .label(format!("budget at {rate} Hz: {budget:.1} ms"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(1)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
