import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The package under test: `TANDEM_DEB` if set (CI can build it once with
/// scripts/build-deb.sh), else built here by scripts/build-deb.sh in a scratch directory
/// of its own (SwiftPM locks the one `swift test` runs in). Built once per test run.
let builtPackage: Result<String, PackagingTestError> = {
    if let path = ProcessInfo.processInfo.environment["TANDEM_DEB"], !path.isEmpty {
        return access(path, R_OK) == 0 ? .success(path) : .failure(PackagingTestError("TANDEM_DEB=\(path) is not readable"))
    }
    let script = repositoryRoot.appendingPathComponent("scripts/build-deb.sh").path
    let scratch = repositoryRoot.appendingPathComponent(".build/deb-scratch").path
    let output = repositoryRoot.appendingPathComponent(".build/deb-test").path
    do {
        // Fast compression: the package's contents are under test, not its size.
        var environment = ProcessInfo.processInfo.environment
        environment["TANDEM_DEB_XZ_LEVEL"] = "1"
        let result = try run(script, ["--scratch-path", scratch, "--output", output], environment: environment)
        guard result.status == 0, let path = result.standardOutput.split(separator: "\n").last.map(String.init),
              path.hasSuffix(".deb") else {
            return .failure(PackagingTestError("scripts/build-deb.sh failed (\(result.status)):\n\(result.combined.suffix(4000))"))
        }
        return .success(path)
    } catch {
        return .failure(PackagingTestError("scripts/build-deb.sh could not run: \(error)"))
    }
}()

func package() throws -> String { try builtPackage.get() }

/// `dpkg-deb ARGS`, which must succeed.
func dpkgDeb(_ arguments: [String]) throws -> String {
    let dpkgDeb = try requireTool("dpkg-deb", package: "apt-get install dpkg")
    let result = try run(dpkgDeb, arguments)
    guard result.status == 0 else { throw PackagingTestError("dpkg-deb \(arguments.joined(separator: " ")): \(result.combined)") }
    return result.standardOutput
}

@Suite("Debian package", .serialized)
struct DebianPackageTests {
    /// Path, mode and owner of every file the package installs, except directories.
    static let expectedFiles: [(path: String, mode: String)] = [
        ("./usr/bin/tandem-sampler", "-rwxr-xr-x"),
        ("./usr/bin/tandem-aggregator", "-rwxr-xr-x"),
        ("./lib/systemd/system/tandem-sampler.service", "-rw-r--r--"),
        ("./lib/systemd/system/tandem-aggregator.service", "-rw-r--r--"),
        ("./lib/systemd/system/tandem-aggregator.socket", "-rw-r--r--"),
        ("./usr/lib/sysusers.d/tandem.conf", "-rw-r--r--"),
        ("./usr/lib/tmpfiles.d/tandem.conf", "-rw-r--r--"),
        ("./etc/tandem/tandem.yml", "-rw-r--r--"),
        ("./usr/share/doc/tandem/copyright", "-rw-r--r--"),
        ("./usr/share/doc/tandem/changelog.gz", "-rw-r--r--"),
        ("./usr/share/lintian/overrides/tandem", "-rw-r--r--"),
        ("./usr/share/man/man1/tandem-sampler.1.gz", "-rw-r--r--"),
        ("./usr/share/man/man1/tandem-aggregator.1.gz", "-rw-r--r--"),
    ]

    @Test("is named tandem_<version>_amd64.deb and installs the binaries, units, config and docs as root")
    func contents() throws {
        let deb = try package()
        let version = try dpkgDeb(["-f", deb, "Version"]).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect((deb as NSString).lastPathComponent == "tandem_\(version)_amd64.deb")
        let listing = try dpkgDeb(["-c", deb])
        var entries: [String: (mode: String, owner: String)] = [:]
        for line in listing.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6 else { continue }
            entries[String(fields[5])] = (String(fields[0]), String(fields[1]))
        }
        for expected in Self.expectedFiles {
            let entry = entries[expected.path]
            #expect(entry?.mode == expected.mode, "\(expected.path): \(entry.map { "\($0)" } ?? "missing")")
        }
        #expect(entries.values.allSatisfy { $0.owner == "root/root" }, "files not owned by root/root")
        let files = entries.filter { !$0.value.mode.hasPrefix("d") }.keys.filter { $0 != "./usr/share/doc/tandem/deployment.md" }
        #expect(Set(files) == Set(Self.expectedFiles.map(\.path)), "unexpected files: \(Set(files).subtracting(Self.expectedFiles.map(\.path)))")
    }

    @Test("control: amd64, dependencies from dpkg-shlibdeps, the config a conffile, maintainer scripts")
    func control() throws {
        let deb = try package()
        #expect(try dpkgDeb(["-f", deb, "Package"]).trimmingCharacters(in: .whitespacesAndNewlines) == "tandem")
        #expect(try dpkgDeb(["-f", deb, "Architecture"]).trimmingCharacters(in: .whitespacesAndNewlines) == "amd64")
        let depends = try dpkgDeb(["-f", deb, "Depends"])
        // libelf1 comes through libbpf1: since symbolization reads ELF in Swift, neither binary links it.
        // libcurl4 is named by control.in: the aggregator loads it with dlopen, for its HTTP exporters.
        for library in ["libbpf1", "libc6", "libcurl4", "adduser"] {
            #expect(depends.contains(library), "Depends lacks \(library): \(depends)")
        }
        #expect(try dpkgDeb(["-I", deb, "conffiles"]).split(separator: "\n") == ["/etc/tandem/tandem.yml"])
        let info = try dpkgDeb(["-I", deb])
        for script in ["postinst", "prerm", "postrm"] {
            #expect(info.contains(" \(script) "), "no \(script) in the control archive: \(info)")
        }
    }

    @Test("the packaged units and config are the ones in packaging/, and the binaries need no Swift runtime")
    func packagedFiles() throws {
        let deb = try package()
        let root = try TemporaryDirectory(prefix: "tandem-deb-x")
        defer { root.cleanup() }
        _ = try dpkgDeb(["-x", deb, root.path])
        for name in TandemUnits.all {
            let packaged = FileManager.default.contents(atPath: root.path + "/lib/systemd/system/" + name)
            #expect(packaged == FileManager.default.contents(atPath: TandemUnits.path(name)), "\(name) differs")
        }
        #expect(FileManager.default.contents(atPath: root.path + "/etc/tandem/tandem.yml")
                == FileManager.default.contents(atPath: packagingFile("tandem.yml").path))
        for binary in ["tandem-sampler", "tandem-aggregator"] {
            let path = root.path + "/usr/bin/" + binary
            let readelf = try run(try requireTool("readelf", package: "apt-get install binutils"), ["-d", path])
            #expect(readelf.status == 0)
            #expect(!readelf.standardOutput.contains("libswift"), "\(binary) links a Swift runtime library:\n\(readelf.standardOutput)")
            #expect(!readelf.standardOutput.contains("RUNPATH") && !readelf.standardOutput.contains("RPATH"),
                    "\(binary) has a run path into the build machine")
            // It runs with an empty environment, from the package alone.
            let version = try run(path, ["--version"], environment: [:])
            #expect(version.status == 0, "\(binary) --version: \(version.combined)")
        }
    }

    @Test("lintian reports no error")
    func lintian() throws {
        let lintian = try requireTool("lintian", package: "apt-get install lintian")
        // --fail-on error: the exit status is 0 unless lintian finds an error (overridden
        // tags excluded). (--show-overrides would turn a shown override into status 2.)
        let result = try run(lintian, ["--tag-display-limit", "0", "--fail-on", "error", "--display-info", try package()])
        let lines = result.combined.split(separator: "\n").map(String.init)
        let errors = lines.filter { $0.hasPrefix("E:") }
        let warnings = lines.filter { $0.hasPrefix("W:") }
        let overrides = (try? String(contentsOf: packagingFile("debian/lintian-overrides"), encoding: .utf8))?
            .split(separator: "\n").filter { !$0.hasPrefix("#") } ?? []
        print("lintian: \(errors.count) errors, \(warnings.count) warnings, overridden: \(overrides.joined(separator: "; "))\n"
              + lines.filter { !$0.hasPrefix("I:") }.joined(separator: "\n"))
        #expect(errors.isEmpty, "lintian errors:\n\(errors.joined(separator: "\n"))")
        #expect(result.status == 0, "lintian exited \(result.status): \(result.combined.suffix(2000))")
    }

    @Test("installs (user, directories, enabled units, conffile) and purges cleanly",
          .enabled(if: getuid() == 0, "installing a package needs root (CI runs as root)"))
    func installAndPurge() throws {
        let aptGet = try requireTool("apt-get", package: "apt")
        let deb = try package()
        let lock = "-o", lockTimeout = "DPkg::Lock::Timeout=300"
        let install = try run(aptGet, ["install", "-y", "--no-install-recommends", lock, lockTimeout, deb],
                              environment: ["DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
        #expect(install.status == 0, "apt-get install: \(install.combined)")
        defer {
            _ = try? run(aptGet, ["purge", "-y", lock, lockTimeout, "tandem"],
                         environment: ["DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
        }
        let user = try #require(try userIDs("tandem"), "postinst did not create the tandem user")
        var state = stat()
        #expect(stat("/var/lib/tandem", &state) == 0 && state.st_uid == user.uid && state.st_mode & 0o777 == 0o750)
        #expect(access("/etc/tandem/tandem.yml", R_OK) == 0)
        // Enabled through deb-systemd-helper even without systemd running (as in a container).
        for (target, unit) in [("sockets.target", TandemUnits.socket), ("multi-user.target", TandemUnits.aggregator),
                               ("multi-user.target", TandemUnits.sampler)] {
            let link = "/etc/systemd/system/\(target).wants/\(unit)"
            #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == "/lib/systemd/system/\(unit)",
                    "\(link) is not a link to the unit")
        }
        let purge = try run(aptGet, ["purge", "-y", lock, lockTimeout, "tandem"],
                            environment: ["DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
        #expect(purge.status == 0, "apt-get purge: \(purge.combined)")
        #expect(access("/etc/tandem/tandem.yml", F_OK) != 0, "the conffile survived the purge")
        #expect(access("/var/lib/tandem", F_OK) != 0, "the state directory survived the purge")
        #expect(access("/etc/systemd/system/multi-user.target.wants/\(TandemUnits.sampler)", F_OK) != 0)
        #expect(access("/usr/bin/tandem-sampler", F_OK) != 0)
    }
}
