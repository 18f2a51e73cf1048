//! The hardware's FP32 peak, where known: a few GPUs by name, the CPU from `/proc/cpuinfo` and its vector units.

/// FP32 peak GFLOP/s of the hardware a backend description names, where this table knows it: the CPU from
/// `/proc/cpuinfo` (cores × clock × FLOPs per cycle of its widest FMA units), and a few GPUs by name
/// (vendor figures for dense FP32, no tensor cores).
pub fn peak_gflops(description: &str) -> Option<f64> {
    const GPUS: [(&str, f64); 6] = [
        ("H200", 66_900.0),
        ("H100 PCIe", 51_200.0),
        ("H100", 66_900.0),
        ("A100", 19_500.0),
        ("RTX 4090", 82_600.0),
        ("RTX 3090", 35_600.0),
    ];
    if let Some((_, peak)) = GPUS.iter().find(|(name, _)| description.contains(name)) {
        return Some(*peak);
    }
    if description.starts_with("cpu") {
        return cpu_peak_gflops();
    }
    None
}

/// This machine's CPU FP32 peak: physical cores × MHz × FP32 FLOPs per cycle of one core ([`fp32_flops_per_cycle`]).
/// Linux only; `None` where `/proc/cpuinfo` does not say or the CPU is not one this table knows ("-" in `bench`).
pub fn cpu_peak_gflops() -> Option<f64> {
    let mhz: f64 = cpuinfo("cpu MHz")?.parse().ok()?;
    let cpu = CpuId {
        vendor: cpuinfo("vendor_id")?,
        family: cpuinfo("cpu family")?.parse().ok()?,
        model: cpuinfo("model")?.parse().ok()?,
        name: cpuinfo("model name").unwrap_or_default(),
        flags: cpuinfo("flags")?,
    };
    let per_cycle = fp32_flops_per_cycle(&cpu)?;
    // Logical CPUs this process may use, less SMT siblings: two threads of one core share its FMA units.
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let threads_per_core = match (cpuinfo("siblings"), cpuinfo("cpu cores")) {
        (Some(s), Some(c)) => s.parse::<f64>().ok().zip(c.parse::<f64>().ok()).map_or(1.0, |(s, c)| (s / c).max(1.0)),
        _ => 1.0,
    };
    Some((logical / threads_per_core).max(1.0) * mhz * per_cycle / 1000.0)
}

/// What `/proc/cpuinfo` says of a CPU: enough to know its vector units.
#[derive(Clone, Debug, Default)]
pub struct CpuId {
    /// `vendor_id`: `AuthenticAMD`, `GenuineIntel`.
    pub vendor: String,
    /// `cpu family` (decimal).
    pub family: u32,
    /// `model` (decimal).
    pub model: u32,
    /// `model name`.
    pub name: String,
    /// `flags`, space-separated.
    pub flags: String,
}

/// FP32 FLOPs one core retires per cycle at most (FMA units × lanes × 2), for the CPUs whose vector units are known;
/// `None` for the others, rather than a guess from the instruction set: AVX-512 alone does not say whether a core
/// has one or two 512-bit FMA units (Intel's parts differ by SKU) or runs it on 256-bit halves (AMD Zen 4).
pub fn fp32_flops_per_cycle(cpu: &CpuId) -> Option<f64> {
    let has = |f: &str| cpu.flags.split_whitespace().any(|x| x == f);
    match (cpu.vendor.as_str(), cpu.family) {
        // Zen and Zen+ (models 0x00–0x2f): two 128-bit FMA pipes; Zen 2: two 256-bit.
        ("AuthenticAMD", 23) => Some(if cpu.model < 0x30 { 16.0 } else { 32.0 }),
        // Zen 3 and Zen 4: two 256-bit FMA pipes (Zen 4 runs AVX-512 on them in two halves).
        ("AuthenticAMD", 25) => Some(32.0),
        // Zen 5 EPYC (Turin): two full 512-bit FMA pipes; the laptop parts have 256-bit ones.
        ("AuthenticAMD", 26) if cpu.name.contains("EPYC") && has("avx512f") => Some(64.0),
        // Intel from Haswell on without AVX-512: two 256-bit FMA units.
        ("GenuineIntel", 6) if has("avx2") && has("fma") && !has("avx512f") => Some(32.0),
        _ => None,
    }
}

/// The value of the first `name` line of `/proc/cpuinfo` (Linux; `None` elsewhere or if there is none).
pub fn cpuinfo(name: &str) -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with(name))?;
    Some(line.split(':').nth(1)?.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zen 4 has AVX-512 but 256-bit FMA pipes: 32 FLOPs per cycle, not the 64 that "AVX-512" would suggest; a CPU
    /// the table does not know gives no peak rather than a guess.
    #[test]
    fn flops_per_cycle_should_come_from_the_cpu_not_its_instruction_set() {
        let cpu = |vendor: &str, family, model, name: &str, flags: &str| CpuId {
            vendor: vendor.into(),
            family,
            model,
            name: name.into(),
            flags: flags.into(),
        };
        let zen4 = cpu("AuthenticAMD", 25, 17, "AMD EPYC 9654 96-Core Processor", "fma avx2 avx512f avx512bw");
        assert_eq!(fp32_flops_per_cycle(&zen4), Some(32.0));
        let zen3 = cpu("AuthenticAMD", 25, 1, "AMD EPYC 7763 64-Core Processor", "fma avx2");
        assert_eq!(fp32_flops_per_cycle(&zen3), Some(32.0));
        let zen1 = cpu("AuthenticAMD", 23, 1, "AMD EPYC 7601 32-Core Processor", "fma avx2");
        assert_eq!(fp32_flops_per_cycle(&zen1), Some(16.0));
        let turin = cpu("AuthenticAMD", 26, 2, "AMD EPYC", "fma avx2 avx512f");
        assert_eq!(fp32_flops_per_cycle(&turin), Some(64.0));
        let strix = cpu("AuthenticAMD", 26, 36, "AMD Ryzen AI 9 HX 370", "fma avx2 avx512f");
        assert_eq!(fp32_flops_per_cycle(&strix), None, "Zen 5 laptops run AVX-512 on 256-bit pipes");
        let skylake_x = cpu("GenuineIntel", 6, 85, "Intel(R) Xeon(R) Silver 4114", "fma avx2 avx512f");
        assert_eq!(fp32_flops_per_cycle(&skylake_x), None, "one or two 512-bit units, by SKU");
        let haswell = cpu("GenuineIntel", 6, 63, "Intel(R) Xeon(R) CPU E5-2680 v3", "fma avx2");
        assert_eq!(fp32_flops_per_cycle(&haswell), Some(32.0));
        assert_eq!(fp32_flops_per_cycle(&cpu("ARM", 0, 0, "", "")), None);
    }
}
