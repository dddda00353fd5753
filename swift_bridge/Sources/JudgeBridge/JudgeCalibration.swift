import Foundation

/// The Judge's calibration: the `calibration.json` the Judge trainer writes into the judge artifact
/// (`training/judge/trainer.py`, read by `modeling/judge.py`), fitted on the validation split:
///
/// ```json
/// {"version": 1,
///  "score": {"a": 1.7, "b": -0.2, "target": "arbiter status PASS"},
///  "pair": {"a": 2.1, "tie_margin": 0.05},
///  "clauses": {"EVIDENCE_COMPLETENESS": {"temperature": 1.3, "threshold": 0.45}, "...": {}}}
/// ```
///
/// The score is Platt-scaled, `sigmoid(a * s + b)`; each clause logit is temperature-scaled,
/// `sigmoid(z / T)`, and satisfied at or above its threshold; a pair of candidates whose raw scores differ
/// by at most `tie_margin` is a tie, and `sigmoid(pair.a * (s_a - s_b))` is the probability that A is preferred.
/// Without the file the calibration is the identity (`a = 1`, `b = 0`, `T = 1`, threshold 0.5), which is
/// what `POST /caws/judge/score` applies today: `sigmoid(z)`.
public struct JudgeCalibration: Codable, Hashable, Sendable {
    public static let fileName = "calibration.json"

    public struct Score: Codable, Hashable, Sendable {
        public var a: Double
        public var b: Double
        public var target: String?

        public init(a: Double, b: Double, target: String? = nil) {
            self.a = a
            self.b = b
            self.target = target
        }

        enum CodingKeys: String, CodingKey {
            case a
            case b
            case target
        }
    }

    public struct Pair: Codable, Hashable, Sendable {
        public var a: Double
        public var tieMargin: Double

        public init(a: Double, tieMargin: Double) {
            self.a = a
            self.tieMargin = tieMargin
        }

        enum CodingKeys: String, CodingKey {
            case a
            case tieMargin = "tie_margin"
        }
    }

    public struct Clause: Codable, Hashable, Sendable {
        public var temperature: Double
        public var threshold: Double

        public init(temperature: Double, threshold: Double) {
            self.temperature = temperature
            self.threshold = threshold
        }

        public static let identity = Clause(temperature: 1, threshold: 0.5)

        enum CodingKeys: String, CodingKey {
            case temperature
            case threshold
        }
    }

    public var version: Int
    public var score: Score
    public var pair: Pair
    public var clauses: [String: Clause]

    public init(version: Int = 1, score: Score, pair: Pair, clauses: [String: Clause]) {
        self.version = version
        self.score = score
        self.pair = pair
        self.clauses = clauses
    }

    public static let identity = JudgeCalibration(
        score: Score(a: 1, b: 0), pair: Pair(a: 1, tieMargin: 0),
        clauses: Dictionary(uniqueKeysWithValues: judgeClauses.map { ($0, Clause.identity) }))

    /// The probability that the arbiter passes the plea, from the raw score logit.
    public func scoreProbability(_ raw: Double) -> Double {
        sigmoid(score.a * raw + score.b)
    }

    /// The temperature-scaled probability of a clause from its logit.
    public func clauseProbability(_ name: String, logit: Double) -> Double {
        sigmoid(logit / clause(name).temperature)
    }

    /// The probability that candidate A is preferred, from the raw score difference `s_a - s_b`.
    public func preferenceProbability(rawDifference: Double) -> Double {
        sigmoid(pair.a * rawDifference)
    }

    public func clause(_ name: String) -> Clause {
        clauses[name] ?? .identity
    }

    /// The calibration in `directory` (an export or artifact directory); nil when it holds no `calibration.json`.
    public static func load(directory: URL) throws -> JudgeCalibration? {
        let url = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else {
            return nil
        }
        let calibration = try JSONDecoder().decode(JudgeCalibration.self, from: Data(contentsOf: url))
        guard calibration.version == 1 else {
            throw JudgeModelError.invalidContract("calibration.json: unknown version \(calibration.version)")
        }
        let missing = judgeClauses.filter { calibration.clauses[$0] == nil }
        guard missing.isEmpty, calibration.clauses.values.allSatisfy({ $0.temperature > 0 }) else {
            throw JudgeModelError.invalidContract("calibration.json: clauses \(missing) missing or a temperature <= 0")
        }
        return calibration
    }

    enum CodingKeys: String, CodingKey {
        case version
        case score
        case pair
        case clauses
    }
}

func sigmoid(_ x: Double) -> Double {
    1 / (1 + exp(-x))
}

/// The parts of an export's `contract.json` (written by `conversion/coreml_export.py`) the Judge reads.
public struct JudgeExportContract: Codable, Hashable, Sendable {
    public struct TensorSpec: Codable, Hashable, Sendable {
        public var name: String
        public var dtype: String
        /// Ints for fixed sizes, a list of ints for enumerated sizes, strings for symbolic ones.
        public var shape: [JSONValue]

        enum CodingKeys: String, CodingKey {
            case name
            case dtype
            case shape
        }
    }

    public struct Function: Codable, Hashable, Sendable {
        public var inputs: [TensorSpec]
        public var outputs: [TensorSpec]

        enum CodingKeys: String, CodingKey {
            case inputs
            case outputs
        }
    }

    public struct Source: Codable, Hashable, Sendable {
        public var role: String
        public var tokenizerSha256: String?
        public var weightsSha256: String?

        enum CodingKeys: String, CodingKey {
            case role
            case tokenizerSha256 = "tokenizer_sha256"
            case weightsSha256 = "weights_sha256"
        }
    }

    public struct Model: Codable, Hashable, Sendable {
        public var vocabSize: Int
        public var maxSeqLen: Int
        public var padTokenId: Int?
        public var bosTokenId: Int?

        enum CodingKeys: String, CodingKey {
            case vocabSize = "vocab_size"
            case maxSeqLen = "max_seq_len"
            case padTokenId = "pad_token_id"
            case bosTokenId = "bos_token_id"
        }
    }

    public static let fileName = "contract.json"

    public var contractVersion: Int
    public var format: String
    public var package: String
    public var source: Source
    public var model: Model
    public var functions: [String: Function]

    public static func load(exportDirectory: URL) throws -> JudgeExportContract {
        let url = exportDirectory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw JudgeModelError.missingFile(url)
        }
        return try JSONDecoder().decode(JudgeExportContract.self, from: Data(contentsOf: url))
    }

    /// The enumerated token counts of the Judge's `input_ids` (`[1, [512, 1024, 2048]]` in the contract).
    public func judgeLengths() throws -> [Int] {
        guard format == "coreml", source.role == "judge" else {
            throw JudgeModelError.invalidContract("a \(format) export of role \(source.role), not a Core ML Judge")
        }
        guard let main = functions["main"], let ids = main.inputs.first(where: { $0.name == "input_ids" }),
            ids.shape.count == 2
        else {
            throw JudgeModelError.invalidContract("no main function with input_ids [1, lengths]")
        }
        let lengths = ids.shape[1].arrayValue?.compactMap(\.intValue) ?? ids.shape[1].intValue.map { [$0] } ?? []
        guard !lengths.isEmpty else {
            throw JudgeModelError.invalidContract("input_ids has no token counts: \(ids.shape)")
        }
        guard main.inputs.contains(where: { $0.name == "length" }) else {
            throw JudgeModelError.invalidContract("the main function has no input length")
        }
        for name in ["score", "clause_logits"] where !main.outputs.contains(where: { $0.name == name }) {
            throw JudgeModelError.invalidContract("the main function has no output \(name)")
        }
        return lengths.sorted()
    }

    enum CodingKeys: String, CodingKey {
        case contractVersion = "contract_version"
        case format
        case package
        case source
        case model
        case functions
    }
}
