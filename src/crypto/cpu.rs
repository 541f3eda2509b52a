//! What this build requires of the CPU.
//!
//! x86-64 builds are compiled with AES-NI and CLMUL (`.cargo/config.toml`), so the AES and
//! GHASH code has no run-time fallback: on a CPU without them the first envelope would stop the
//! process with an illegal instruction. The binary checks the CPU's flags before anything runs
//! and refuses to start instead. Run-time feature detection cannot do this check: it answers
//! "yes" for every feature the build was compiled with, without asking the CPU.

/// The CPU features this build was compiled to require, as Linux's `/proc/cpuinfo` names them.
pub fn required() -> Vec<&'static str> {
    let mut features = Vec::new();
    if cfg!(all(target_arch = "x86_64", target_feature = "aes")) {
        features.push("aes");
    }
    if cfg!(all(target_arch = "x86_64", target_feature = "pclmulqdq")) {
        features.push("pclmulqdq");
    }
    features
}

/// The features in `required` that the text of `/proc/cpuinfo` does not list for every
/// processor (a feature missing on any one core is missing: the process may run on it).
pub fn missing<'a>(cpuinfo: &str, required: &[&'a str]) -> Vec<&'a str> {
    let mut missing = Vec::new();
    let mut processors = 0;
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if key.trim() != "flags" {
            continue;
        }
        processors += 1;
        for feature in required {
            if !value.split_ascii_whitespace().any(|flag| flag == *feature)
                && !missing.contains(feature)
            {
                missing.push(*feature);
            }
        }
    }
    if processors == 0 {
        // No flags line: not a reading of the CPU's features at all, so none is known.
        return required.to_vec();
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machines_cpu_has_every_feature_the_build_requires() {
        // The test binary is built with the same flags: had the CPU lacked a feature, the
        // crypto tests would die of an illegal instruction; here the reading agrees.
        let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
            return; // not Linux: nothing to read
        };
        assert_eq!(missing(&cpuinfo, &required()), Vec::<&str>::new());
    }

    #[test]
    fn a_cpu_without_aes_ni_or_clmul_is_named_feature_by_feature() {
        // QEMU's default `qemu64` model: SSE2-era flags, no AES-NI, no CLMUL.
        let qemu64 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu de pse tsc msr \
                      pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse \
                      sse2 syscall nx lm rep_good nopl cpuid pni cx16 hypervisor lahf_lm svm\n";
        assert_eq!(
            missing(qemu64, &["aes", "pclmulqdq"]),
            vec!["aes", "pclmulqdq"]
        );
        let aes_only = qemu64.replace("sse2", "sse2 aes");
        assert_eq!(missing(&aes_only, &["aes", "pclmulqdq"]), vec!["pclmulqdq"]);
    }

    #[test]
    fn a_feature_missing_on_one_processor_is_missing() {
        let two = "processor\t: 0\nflags\t\t: sse2 aes pclmulqdq\n\n\
                   processor\t: 1\nflags\t\t: sse2 pclmulqdq\n";
        assert_eq!(missing(two, &["aes", "pclmulqdq"]), vec!["aes"]);
    }

    #[test]
    fn a_flag_is_matched_whole_not_as_part_of_another() {
        // `vaes` and `vpclmulqdq` are other features; neither stands for the one required.
        let lookalikes = "flags\t\t: sse2 vaes vpclmulqdq\n";
        assert_eq!(
            missing(lookalikes, &["aes", "pclmulqdq"]),
            vec!["aes", "pclmulqdq"]
        );
    }

    #[test]
    fn text_without_a_flags_line_proves_nothing() {
        assert_eq!(missing("", &["aes"]), vec!["aes"]);
        assert_eq!(missing("", &[]), Vec::<&str>::new());
    }
}
