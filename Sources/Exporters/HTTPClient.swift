import CTandemCurl
import Configuration
import Foundation

/// An HTTP response: status, the headers the exporters read, and the body.
public struct HTTPResponse: Sendable, Hashable {
    public var status: Int
    /// Header names in lower case; the last value wins.
    public var headers: [String: String]
    /// Trailers (header fields after the body, as gRPC sends its status), in lower case;
    /// libcurl hands them to the same callback as the headers.
    public var trailers: [String: String] = [:]
    /// The body, or its first `HTTPClient.maximumResponseBytes` bytes (see `bodyTruncated`).
    public var body: [UInt8]
    /// The server sent more than the client keeps: the transfer was cut after `body`.
    public var bodyTruncated = false

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A request that never got an HTTP response: connection refused, DNS failure,
/// timeout... Carries libcurl's code and its message.
public struct HTTPTransportError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The `CURLcode` of `curl_easy_perform` (or of the setup call that failed).
    public var code: Int32
    /// The libcurl call that failed.
    public var call: String
    /// libcurl's error buffer, or `curl_easy_strerror`.
    public var message: String

    public var description: String { "\(call) failed (CURLcode \(code)): \(message)" }
}

/// Which HTTP version a request must use.
enum HTTPVersion: Sendable {
    /// libcurl's default: HTTP/1.1, or HTTP/2 where TLS negotiates it.
    case automatic
    /// HTTP/2 only, as gRPC requires: prior knowledge (h2c) for `http://`, ALPN `h2` for
    /// `https://`. A server that answers in another version is a transport error.
    case http2
}

/// HTTP POST over one libcurl easy handle, reused between requests so connections are
/// kept alive.
///
/// Not thread-safe by design: each exporter's single worker thread owns one client.
/// It is `@unchecked Sendable` only so that the worker can be handed its client; a lock
/// still guards `post` in case a caller breaks that rule.
final class HTTPClient: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer
    private let lock = NSLock()

    /// The response body kept by default: enough for an error message or an OTLP
    /// `partial_success`. A server (or whatever answers at the endpoint) cannot make the
    /// aggregator hold more: past the bound the transfer is aborted.
    static let defaultMaximumResponseBytes = 64 << 10

    /// Loads libcurl (`tandem_curl_load`: dlopen, then `curl_global_init`) for the first
    /// client of the process, and opens an easy handle.
    ///
    /// - Throws: when libcurl cannot be loaded (missing, not a library, too old for one of
    ///   the calls, or its global init failed), with what failed.
    init() throws(HTTPTransportError) {
        if let failure = tandem_curl_load() {
            throw HTTPTransportError(code: Int32(CURLE_FAILED_INIT.rawValue), call: "tandem_curl_load",
                                     message: String(cString: failure))
        }
        // curl_easy_init only fails when out of memory.
        guard let handle = tandem_curl_easy_init() else { fatalError("curl_easy_init returned NULL (out of memory)") }
        self.handle = handle
    }

    /// A client for the exporter configured at `config`: a libcurl that cannot be loaded is
    /// a configuration error of that exporter, reported at start-up like any other.
    static func forExporter(at config: ConfigMappingReader) throws(ConfigurationError) -> HTTPClient {
        do {
            return try HTTPClient()
        } catch {
            throw config.error(at: config.path, "cannot export over HTTP: \(error.message)",
                               fix: "install libcurl 7.50 or later (Debian's package libcurl4), or remove this exporter")
        }
    }

    /// libcurl before 8.0.0 cannot send a second request on a reused HTTP/2 prior-knowledge
    /// (h2c) connection: it fails with "Error in the HTTP2 framing layer" (curl/curl#10634,
    /// fixed in 8.0.0; Debian 12 ships 7.88.1). Such a libcurl closes each h2c connection
    /// after its request instead.
    private static let h2cReuseIsBroken: Bool = tandem_curl_version_number() < 0x08_00_00

    deinit {
        tandem_curl_easy_cleanup(handle)
    }

    /// POSTs `body` to `url` and waits for the whole response or `timeout`; `caFile`, when
    /// given, replaces the system's CA certificates for TLS. At most
    /// `maximumResponseBytes` of the response body are kept; a longer one is cut there
    /// (`bodyTruncated`) and the rest is not read.
    func post(url: String, headers: [(String, String)], body: [UInt8], timeout: Duration,
              version: HTTPVersion = .automatic, caFile: String? = nil,
              maximumResponseBytes: Int = defaultMaximumResponseBytes) throws(HTTPTransportError) -> HTTPResponse {
        try perform(url: url, headers: headers, body: body, timeout: timeout, version: version, caFile: caFile,
                    maximumResponseBytes: maximumResponseBytes)
    }

    /// GETs `url` (for health checks and queries in tests and tools).
    func get(url: String, headers: [(String, String)] = [], timeout: Duration,
             maximumResponseBytes: Int = defaultMaximumResponseBytes) throws(HTTPTransportError) -> HTTPResponse {
        try perform(url: url, headers: headers, body: nil, timeout: timeout, version: .automatic, caFile: nil,
                    maximumResponseBytes: maximumResponseBytes)
    }

    private func perform(url: String, headers: [(String, String)], body: [UInt8]?, timeout: Duration,
                         version: HTTPVersion, caFile: String?, maximumResponseBytes: Int) throws(HTTPTransportError) -> HTTPResponse {
        lock.lock()
        defer { lock.unlock() }
        tandem_curl_easy_reset(handle)

        let collector = ResponseCollector(limit: maximumResponseBytes)
        let context = Unmanaged.passUnretained(collector).toOpaque()
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        // Suppress libcurl's own "Expect: 100-continue" round trip for larger bodies.
        for line in headers.map({ "\($0.0): \($0.1)" }) + ["Expect:"] {
            headerList = tandem_curl_slist_append(headerList, line)
        }
        defer { tandem_curl_slist_free_all(headerList) }

        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let milliseconds = max(1, timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)

        let result: CURLcode = withExtendedLifetime(collector) {
            errorBuffer.withUnsafeMutableBufferPointer { errorPointer in
                (body ?? []).withUnsafeBufferPointer { bodyPointer in
                    var setup = CURLE_OK
                    func set(_ code: CURLcode) { if setup == CURLE_OK { setup = code } }
                    set(tandem_curl_setopt_string(handle, CURLOPT_URL, url))
                    set(tandem_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
                    if body != nil {
                        set(tandem_curl_setopt_long(handle, CURLOPT_POST, 1))
                        // CURLOPT_POSTFIELDS does not copy: the body outlives curl_easy_perform below.
                        set(tandem_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyPointer.count)))
                        if let base = bodyPointer.baseAddress {
                            set(tandem_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: base)))
                        } else {
                            set(tandem_curl_setopt_string(handle, CURLOPT_COPYPOSTFIELDS, ""))
                        }
                    } else {
                        set(tandem_curl_setopt_long(handle, CURLOPT_HTTPGET, 1))
                    }
                    set(tandem_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
                    if let caFile {
                        // Trust these CAs instead of the system's (a private CA, a test's own).
                        set(tandem_curl_setopt_string(handle, CURLOPT_CAINFO, caFile))
                    }
                    if version == .http2 {
                        let https = url.lowercased().hasPrefix("https://")
                        let curlVersion = https ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                        set(tandem_curl_setopt_long(handle, CURLOPT_HTTP_VERSION, Int(curlVersion)))
                        if !https && Self.h2cReuseIsBroken {
                            set(tandem_curl_setopt_long(handle, CURLOPT_FORBID_REUSE, 1))
                        }
                    }
                    set(tandem_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(milliseconds)))
                    set(tandem_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(min(milliseconds, 10_000))))
                    set(tandem_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorPointer.baseAddress))
                    set(tandem_curl_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION, responseBodyCallback))
                    set(tandem_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
                    set(tandem_curl_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION, responseHeaderCallback))
                    set(tandem_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))
                    guard setup == CURLE_OK else { return setup }
                    return tandem_curl_easy_perform(handle)
                }
            }
        }
        // The error buffer belongs to this call only.
        _ = tandem_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, nil)

        // The write callback refused the rest of an oversize body (CURLE_WRITE_ERROR): the
        // status and headers are complete, the body is cut.
        guard result == CURLE_OK || (result == CURLE_WRITE_ERROR && collector.truncated) else {
            let detail = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let message = detail.isEmpty ? String(cString: tandem_curl_easy_strerror(result)) : detail
            throw HTTPTransportError(code: Int32(result.rawValue), call: "curl_easy_perform", message: message)
        }
        var status = 0
        _ = tandem_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        if version == .http2 {
            var negotiated = 0
            _ = tandem_curl_getinfo_long(handle, CURLINFO_HTTP_VERSION, &negotiated)
            guard negotiated == Int(CURL_HTTP_VERSION_2_0) else {
                throw HTTPTransportError(code: Int32(CURLE_HTTP2.rawValue), call: "curl_easy_perform", message: """
                    the server did not answer over HTTP/2, which gRPC requires (is the endpoint an OTLP/HTTP \
                    port such as 4318, or a TLS server that does not offer ALPN h2?)
                    """)
            }
        }
        return HTTPResponse(status: status, headers: collector.headers, trailers: collector.trailers,
                            body: collector.body, bodyTruncated: collector.truncated)
    }
}

/// Receives the response through libcurl's callbacks during one `curl_easy_perform`.
private final class ResponseCollector {
    /// Most body bytes kept.
    let limit: Int
    var body: [UInt8] = []
    var headers: [String: String] = [:]
    var trailers: [String: String] = [:]
    /// The blank line that ends the header block came: later fields are trailers.
    var headerBlockEnded = false
    /// More than `limit` bytes came: the callback kept the first `limit` and stopped the transfer.
    var truncated = false

    init(limit: Int) { self.limit = max(0, limit) }
}

private let responseBodyCallback: tandem_curl_data_callback = { data, size, count, context in
    let length = size * count
    guard let data, let context else { return length }
    let collector = Unmanaged<ResponseCollector>.fromOpaque(context).takeUnretainedValue()
    let room = collector.limit - collector.body.count
    data.withMemoryRebound(to: UInt8.self, capacity: length) {
        collector.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: min(length, room)))
    }
    guard length <= room else {
        // Returning less than `length` makes libcurl abort the transfer (CURLE_WRITE_ERROR)
        // instead of reading a body of any size from the server.
        collector.truncated = true
        return 0
    }
    return length
}

private let responseHeaderCallback: tandem_curl_data_callback = { data, size, count, context in
    let length = size * count
    guard let data, let context else { return length }
    let collector = Unmanaged<ResponseCollector>.fromOpaque(context).takeUnretainedValue()
    let line = data.withMemoryRebound(to: UInt8.self, capacity: length) {
        String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
    }
    if line.hasPrefix("HTTP/") {
        // A new response (after a redirect or 100 Continue): forget the previous headers.
        collector.headers = [:]
        collector.trailers = [:]
        collector.headerBlockEnded = false
    } else if line == "\r\n" || line == "\n" {
        collector.headerBlockEnded = true
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        if collector.headerBlockEnded {
            collector.trailers[name] = value
        } else {
            collector.headers[name] = value
        }
    }
    return length
}
