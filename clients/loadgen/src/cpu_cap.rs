//! Caps a spawned server process's CPU with a Linux cgroup of its own (`--server-cpus`).
//!
//! Scale-out asks what a second server process adds when each has CPU of its own, as on separate
//! machines. On a small machine one uncapped process already takes every core the devices and the
//! database leave, so a second one has nothing to scale onto and the run measures the machine.
//! Capped processes that together use less than the machine show whether anything they share (the
//! database, its locks, the feed's positions) makes them wait for one another.
//!
//! Needs root and a cgroup file system with the `cpu` controller: version 1
//! (`/sys/fs/cgroup/cpu`) or version 2 (`/sys/fs/cgroup` with `cpu` in its controllers).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// The scheduler period the quota is a share of, in microseconds (the kernel's default).
const PERIOD_US: u64 = 10_000;

/// A cgroup holding one process, removed when dropped (after the process ended: an occupied cgroup
/// cannot be removed).
pub struct CpuCap {
    dir: PathBuf,
}

impl CpuCap {
    /// Moves process `pid`, with all its threads, into a new cgroup named `name` that may use at
    /// most `cores` CPUs' time.
    pub fn apply(pid: u32, cores: f64, name: &str) -> anyhow::Result<CpuCap> {
        if !cores.is_finite() || cores <= 0.0 {
            bail!("--server-cpus must be more than 0");
        }
        let quota = (cores * PERIOD_US as f64).round() as u64;
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        let v2 = Path::new("/sys/fs/cgroup");
        let cap = if v1.join("cpu.cfs_quota_us").exists() {
            let cap = CpuCap::create(v1.join(name))?;
            cap.write("cpu.cfs_period_us", &PERIOD_US.to_string())?;
            cap.write("cpu.cfs_quota_us", &quota.to_string())?;
            cap
        } else if fs::read_to_string(v2.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "cpu"))
        {
            let cap = CpuCap::create(v2.join(name))?;
            cap.write("cpu.max", &format!("{quota} {PERIOD_US}"))?;
            cap
        } else {
            bail!("--server-cpus needs a cgroup file system with the cpu controller (Linux)");
        };
        cap.write("cgroup.procs", &pid.to_string())?;
        Ok(cap)
    }

    fn create(dir: PathBuf) -> anyhow::Result<CpuCap> {
        fs::create_dir(&dir).with_context(|| {
            format!(
                "--server-cpus: cannot create the cgroup {} (it needs root)",
                dir.display()
            )
        })?;
        Ok(CpuCap { dir })
    }

    fn write(&self, file: &str, value: &str) -> anyhow::Result<()> {
        let path = self.dir.join(file);
        fs::write(&path, value)
            .with_context(|| format!("--server-cpus: cannot write {value} to {}", path.display()))
    }
}

impl Drop for CpuCap {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs what `--server-cpus` needs: root and the cgroup cpu controller, as on the CI machines.
    #[test]
    fn a_capped_process_runs_in_its_own_cgroup_until_it_ends() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let name = format!("fieldsync-cap-test-{}", std::process::id());
        let cap = CpuCap::apply(child.id(), 0.25, &name).unwrap();
        let quota = match cap.dir.join("cpu.cfs_quota_us").exists() {
            true => fs::read_to_string(cap.dir.join("cpu.cfs_quota_us")).unwrap(),
            false => fs::read_to_string(cap.dir.join("cpu.max")).unwrap(),
        };
        let expected = (PERIOD_US / 4).to_string();
        assert_eq!(quota.split_whitespace().next(), Some(expected.as_str()));
        let procs = fs::read_to_string(cap.dir.join("cgroup.procs")).unwrap();
        assert_eq!(procs.trim(), child.id().to_string());
        let cgroups = fs::read_to_string(format!("/proc/{}/cgroup", child.id())).unwrap();
        assert!(cgroups.contains(&name), "{cgroups}");

        child.kill().unwrap();
        child.wait().unwrap();
        let dir = cap.dir.clone();
        drop(cap);
        assert!(!dir.exists());
        assert!(CpuCap::apply(1, 0.0, "unused").is_err());
    }
}
