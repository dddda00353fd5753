import Foundation

/// Connection settings of a `JudgeClient`.
public struct JudgeClientConfiguration: Sendable {
    /// The service root, e.g. `http://127.0.0.1:8000`.
    public var baseURL: URL
    /// Sent as `Authorization: Bearer <key>`; keys come from `kimi-student keys create`.
    public var apiKey: String?
    /// Seconds a plain request may take.
    public var timeout: TimeInterval
    /// Seconds a streamed chat completion may stay silent between chunks.
    public var streamTimeout: TimeInterval
    /// Retries of a request answered 429 (rate limited) or 503 (not ready, queue full).
    public var maxRetries: Int
    /// The longest wait before a retry; a `Retry-After` longer than this fails at once instead.
    public var maxRetryDelay: TimeInterval

    public init(baseURL: URL, apiKey: String? = nil, timeout: TimeInterval = 60, streamTimeout: TimeInterval = 300,
                maxRetries: Int = 3, maxRetryDelay: TimeInterval = 30) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.timeout = timeout
        self.streamTimeout = streamTimeout
        self.maxRetries = maxRetries
        self.maxRetryDelay = maxRetryDelay
    }
}

/// The judge service over HTTP: CAWS adjudication, verdicts, claimify, the Judge's score and compare, and
/// OpenAI-compatible chat completions (whole or streamed). Every error is a `JudgeBridgeError`.
///
/// ```swift
/// let client = JudgeClient(baseURL: URL(string: "http://127.0.0.1:8000")!, apiKey: key)
/// let verdict = try await client.adjudicate(request, idempotencyKey: UUID().uuidString)
/// ```
public struct JudgeClient: Sendable {
    public let configuration: JudgeClientConfiguration
    private let session: URLSession

    public init(configuration: JudgeClientConfiguration, session: URLSession = .shared) {
        self.configuration = configuration
        self.session = session
    }

    public init(baseURL: URL, apiKey: String? = nil, session: URLSession = .shared) {
        self.init(configuration: JudgeClientConfiguration(baseURL: baseURL, apiKey: apiKey), session: session)
    }

    // MARK: CAWS

    /// `POST /caws/adjudicate`: the verdict, persisted and chained before it is returned. With an
    /// `idempotencyKey`, repeating the same request returns the same verdict (another body: a 409).
    public func adjudicate(_ request: AdjudicateRequest, idempotencyKey: String? = nil) async throws -> Verdict {
        var headers: [String: String] = [:]
        if let idempotencyKey {
            headers["Idempotency-Key"] = idempotencyKey
        }
        return try await send("POST", url(path: "/caws/adjudicate"), body: request, headers: headers)
    }

    /// `GET /caws/verdicts/{verdict_id}`.
    public func verdict(id: String) async throws -> Verdict {
        try await send("GET", url(path: "/caws/verdicts/", component: id))
    }

    /// `POST /caws/claimify`: sentences, the claims drawn from them and, with a manifest, their verification.
    public func claimify(_ request: ClaimifyRequest) async throws -> ClaimifyResponse {
        try await send("POST", url(path: "/caws/claimify"), body: request)
    }

    /// `POST /caws/judge/score`: the Judge's score and clause probabilities for one candidate.
    public func score(_ request: JudgeScoreRequest) async throws -> JudgeScore {
        try await send("POST", url(path: "/caws/judge/score"), body: request)
    }

    public func score(prompt: String, candidate: String) async throws -> JudgeScore {
        try await score(JudgeScoreRequest(prompt: prompt, candidate: candidate))
    }

    /// `POST /caws/judge/compare`: which of two candidates the Judge prefers.
    public func compare(_ request: JudgeCompareRequest) async throws -> JudgeComparison {
        try await send("POST", url(path: "/caws/judge/compare"), body: request)
    }

    public func compare(prompt: String, a: String, b: String) async throws -> JudgeComparison {
        try await compare(JudgeCompareRequest(prompt: prompt, a: a, b: b))
    }

    // MARK: OpenAI-compatible

    /// `POST /v1/chat/completions` without streaming.
    public func chatCompletion(_ request: ChatCompletionRequest) async throws -> ChatCompletion {
        var body = request
        body.stream = nil
        body.streamOptions = nil
        return try await send("POST", url(path: "/v1/chat/completions"), body: body)
    }

    /// `POST /v1/chat/completions` with `stream: true`: the chunks as they arrive (server-sent events via
    /// `URLSession.bytes`), ending at `data: [DONE]`. With `includeUsage` the last chunk has no choices
    /// and carries the usage. Cancelling the consuming task cancels the request.
    public func chatCompletionStream(_ request: ChatCompletionRequest,
                                     includeUsage: Bool = true) -> AsyncThrowingStream<ChatCompletionChunk, Error> {
        var body = request
        body.stream = true
        body.streamOptions = includeUsage ? StreamOptions(includeUsage: true) : nil
        let urlRequest: URLRequest
        do {
            urlRequest = try makeRequest("POST", url(path: "/v1/chat/completions"), body: body,
                                         accept: "text/event-stream", timeout: configuration.streamTimeout)
        } catch {
            return AsyncThrowingStream { $0.finish(throwing: error) }
        }
        let client = self
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await client.stream(urlRequest, into: continuation)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: JudgeClient.mapped(error))
                }
            }
            continuation.onTermination = { _ in
                task.cancel()
            }
        }
    }

    // MARK: Transport

    private func url(path: String, component: String? = nil) -> URL {
        let url = configuration.baseURL.appending(path: path)
        guard let component else {
            return url
        }
        return url.appending(component: component)
    }

    private func makeRequest(_ method: String, _ url: URL, body: (any Encodable)?, headers: [String: String] = [:],
                             accept: String = "application/json", timeout: TimeInterval) throws -> URLRequest {
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = method
        request.setValue(accept, forHTTPHeaderField: "Accept")
        if let apiKey = configuration.apiKey {
            request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization")
        }
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JudgeJSON.makeEncoder().encode(body)
        }
        for (name, value) in headers {
            request.setValue(value, forHTTPHeaderField: name)
        }
        return request
    }

    private func send<Response: Decodable>(_ method: String, _ url: URL, body: (any Encodable)? = nil,
                                           headers: [String: String] = [:]) async throws -> Response {
        let request = try makeRequest(method, url, body: body, headers: headers, timeout: configuration.timeout)
        var attempt = 0
        while true {
            let (data, response) = try await transport { try await session.data(for: request) }
            let http = try JudgeClient.http(response)
            if (200..<300).contains(http.statusCode) {
                return try JudgeClient.decode(Response.self, from: data)
            }
            let error = JudgeClient.apiError(http, body: data)
            try await backOff(after: error, attempt: attempt)
            attempt += 1
        }
    }

    private func stream(_ request: URLRequest,
                        into continuation: AsyncThrowingStream<ChatCompletionChunk, Error>.Continuation) async throws {
        var attempt = 0
        var opened: URLSession.AsyncBytes?
        while opened == nil {
            let (bytes, response) = try await transport { try await session.bytes(for: request) }
            let http = try JudgeClient.http(response)
            if (200..<300).contains(http.statusCode) {
                opened = bytes
            } else {
                var body = Data()
                for try await byte in bytes {
                    body.append(byte)
                }
                try await backOff(after: JudgeClient.apiError(http, body: body), attempt: attempt)
                attempt += 1
            }
        }
        guard let bytes = opened else {
            throw JudgeBridgeError.invalidResponse
        }
        var lines = LineSplitter()
        var parser = ServerSentEventParser()
        for try await byte in bytes {
            guard let line = lines.push(byte), let event = parser.feed(line: line) else {
                continue
            }
            if try JudgeClient.deliver(event, to: continuation) {
                return
            }
        }
        if let line = lines.finish(), let event = parser.feed(line: line) {
            if try JudgeClient.deliver(event, to: continuation) {
                return
            }
        }
        if let event = parser.finish() {
            if try JudgeClient.deliver(event, to: continuation) {
                return
            }
        }
        throw JudgeBridgeError.stream("the stream ended before data: [DONE]")
    }

    /// Yields the chunk an event carries; true at `[DONE]`.
    private static func deliver(_ event: ServerSentEvent,
                                to continuation: AsyncThrowingStream<ChatCompletionChunk, Error>.Continuation) throws
        -> Bool
    {
        if event.data == "[DONE]" {
            return true
        }
        let data = Data(event.data.utf8)
        if let failure = try? JudgeJSON.makeDecoder().decode(APIErrorResponse.self, from: data) {
            throw JudgeBridgeError.api(status: 200, error: failure.error, retryAfter: nil)
        }
        continuation.yield(try decode(ChatCompletionChunk.self, from: data))
        return false
    }

    /// Waits before retry `attempt` of a 429 or 503, honouring `Retry-After`; rethrows anything else.
    private func backOff(after error: JudgeBridgeError, attempt: Int) async throws {
        guard error.isRetryable, attempt < configuration.maxRetries else {
            throw error
        }
        let delay: TimeInterval
        if case .api(_, _, let retryAfter?) = error {
            guard retryAfter <= configuration.maxRetryDelay else {
                throw error
            }
            delay = retryAfter
        } else {
            delay = min(configuration.maxRetryDelay, 0.5 * pow(2, Double(attempt)))
        }
        try await Task.sleep(nanoseconds: UInt64(max(0, delay) * 1_000_000_000))
    }

    private func transport<T>(_ operation: () async throws -> T) async throws -> T {
        do {
            return try await operation()
        } catch let error as URLError {
            throw JudgeBridgeError.transport(error)
        }
    }

    private static func http(_ response: URLResponse) throws -> HTTPURLResponse {
        guard let http = response as? HTTPURLResponse else {
            throw JudgeBridgeError.invalidResponse
        }
        return http
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            return try JudgeJSON.makeDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw JudgeBridgeError.decoding(type: String(describing: T.self), description: String(describing: error),
                                            body: data)
        }
    }

    /// The error object of an error response; a body that is not one becomes the message of a synthesized object.
    static func apiError(_ response: HTTPURLResponse, body: Data) -> JudgeBridgeError {
        let retryAfter = response.value(forHTTPHeaderField: "Retry-After").flatMap { parseRetryAfter($0) }
        if let decoded = try? JudgeJSON.makeDecoder().decode(APIErrorResponse.self, from: body) {
            return .api(status: response.statusCode, error: decoded.error, retryAfter: retryAfter)
        }
        let text = String(decoding: body, as: UTF8.self)
        let message = text.isEmpty ? HTTPURLResponse.localizedString(forStatusCode: response.statusCode) : text
        return .api(status: response.statusCode, error: APIErrorObject(message: message, type: "http_error"),
                    retryAfter: retryAfter)
    }

    /// `Retry-After` as seconds: delta-seconds (`2`) or an HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`).
    public static func parseRetryAfter(_ value: String, now: Date = Date()) -> TimeInterval? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = TimeInterval(trimmed), seconds >= 0 {
            return seconds
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else {
            return nil
        }
        return max(0, date.timeIntervalSince(now))
    }

    static func mapped(_ error: Error) -> Error {
        if let error = error as? URLError {
            return JudgeBridgeError.transport(error)
        }
        return error
    }
}
