#if canImport(CoreML)
import CoreML
import Foundation

/// One clause of a scored candidate: its calibrated probability and whether it clears the fitted threshold.
public struct ClauseDecision: Codable, Hashable, Sendable {
    public var probability: Double
    public var satisfied: Bool

    enum CodingKeys: String, CodingKey {
        case probability = "prob"
        case satisfied
    }
}

/// The Judge on device: the Core ML package `kimi-student export coreml artifacts/judge` writes, giving the
/// results of `POST /caws/judge/score` (`score`) and `POST /caws/judge/compare` (`compare`) without a network.
///
/// The export directory holds `contract.json` and `model.mlpackage` (or the `model.mlmodelc` Xcode compiles
/// from it). The exporter writes neither the tokenizer nor the calibration there: copy `tokenizer.json` and,
/// when the Judge was calibrated, `calibration.json` from the judge artifact next to them (or pass their
/// URLs). Without `calibration.json` the calibration is the identity.
///
/// `input_ids` takes enumerated lengths (512, 1024, 2048 tokens, up to the model's `max_seq_len`): the input
/// is right-padded to the smallest that holds it, and cut to the largest. The package targets
/// macOS 15 / iOS 18, hence the availability.
@available(macOS 15.0, iOS 18.0, *)
public actor CoreMLJudge {
    /// Without a calibration, scores closer than this compare as a tie, as in the service.
    public static let uncalibratedTieMargin = 1e-4

    public let contract: JudgeExportContract
    public let calibration: JudgeCalibration
    /// Whether a `calibration.json` was found (otherwise `calibration` is the identity).
    public let isCalibrated: Bool
    /// The token counts `input_ids` accepts, ascending.
    public let lengths: [Int]

    private let model: MLModel
    private let tokenizer: JudgeTokenizer
    private let bosId: Int
    private let padId: Int

    private init(model: MLModel, contract: JudgeExportContract, calibration: JudgeCalibration?,
                 tokenizer: JudgeTokenizer, lengths: [Int]) throws {
        self.model = model
        self.contract = contract
        self.calibration = calibration ?? .identity
        self.isCalibrated = calibration != nil
        self.tokenizer = tokenizer
        self.lengths = lengths
        guard let bos = tokenizer.id(ofAddedToken: "<|bos|>") ?? contract.model.bosTokenId else {
            throw JudgeModelError.unsupportedTokenizer("no <|bos|> token")
        }
        bosId = bos
        padId = tokenizer.id(ofAddedToken: "<|pad|>") ?? contract.model.padTokenId ?? 0
    }

    /// Loads the Judge of an export directory, compiling `model.mlpackage` when no `model.mlmodelc` is there.
    /// `tokenizerURL` defaults to `tokenizer.json` in the directory, `calibrationURL` to `calibration.json`.
    public static func load(exportDirectory: URL, tokenizerURL: URL? = nil, calibrationURL: URL? = nil,
                            configuration: MLModelConfiguration = MLModelConfiguration()) async throws -> CoreMLJudge {
        let contract = try JudgeExportContract.load(exportDirectory: exportDirectory)
        let contractLengths = try contract.judgeLengths()
        let calibration: JudgeCalibration?
        if let calibrationURL {
            calibration = try JudgeCalibration.load(directory: calibrationURL.deletingLastPathComponent())
            guard calibration != nil else {
                throw JudgeModelError.missingFile(calibrationURL)
            }
        } else {
            calibration = try JudgeCalibration.load(directory: exportDirectory)
        }
        let tokenizer = try JudgeTokenizer(
            contentsOf: tokenizerURL ?? exportDirectory.appendingPathComponent("tokenizer.json"))
        let package = exportDirectory.appendingPathComponent(contract.package)
        let compiled = package.deletingPathExtension().appendingPathExtension("mlmodelc")
        let modelURL: URL
        if FileManager.default.fileExists(atPath: compiled.path) {
            modelURL = compiled
        } else if FileManager.default.fileExists(atPath: package.path) {
            modelURL = try await MLModel.compileModel(at: package)
        } else {
            throw JudgeModelError.missingFile(package)
        }
        let model = try await MLModel.load(contentsOf: modelURL, configuration: configuration)
        let lengths = enumeratedLengths(of: model) ?? contractLengths
        return try CoreMLJudge(model: model, contract: contract, calibration: calibration, tokenizer: tokenizer,
                               lengths: lengths)
    }

    /// The token counts the compiled model enumerates for `input_ids`, when it enumerates them.
    private static func enumeratedLengths(of model: MLModel) -> [Int]? {
        guard let constraint = model.modelDescription.inputDescriptionsByName["input_ids"]?.multiArrayConstraint,
            constraint.shapeConstraint.type == .enumerated
        else {
            return nil
        }
        let lengths = constraint.shapeConstraint.enumeratedShapes.compactMap { $0.last?.intValue }
        return lengths.isEmpty ? nil : lengths.sorted()
    }

    // MARK: Results

    /// The calibrated score in [0, 1] and one probability per CAWS clause, rounded to 4 decimals like the
    /// service's `POST /caws/judge/score`.
    public func score(prompt: String, candidate: String) throws -> JudgeScore {
        try Self.rounded(scored(prompt: prompt, candidate: candidate))
    }

    /// Per clause: the calibrated probability and whether it clears the clause's fitted threshold.
    public func clauses(prompt: String, candidate: String) throws -> [String: ClauseDecision] {
        let result = try scored(prompt: prompt, candidate: candidate)
        var decisions: [String: ClauseDecision] = [:]
        for (name, probability) in result.clauses {
            decisions[name] = ClauseDecision(probability: Self.round4(probability),
                                             satisfied: probability >= calibration.clause(name).threshold)
        }
        return decisions
    }

    /// Which candidate the Judge prefers (`A`, `B` or `TIE`), as `POST /caws/judge/compare` answers. Calibrated:
    /// raw scores within `pair.tie_margin` tie; uncalibrated: scores closer than `uncalibratedTieMargin` tie.
    public func compare(prompt: String, a: String, b: String) throws -> JudgeComparison {
        let first = try scored(prompt: prompt, candidate: a)
        let second = try scored(prompt: prompt, candidate: b)
        let (scoreA, scoreB) = (Self.rounded(first), Self.rounded(second))
        let verdict: ComparisonVerdict
        if isCalibrated {
            let difference = first.raw - second.raw
            verdict = abs(difference) <= calibration.pair.tieMargin ? .tie : (difference > 0 ? .a : .b)
        } else if abs(scoreA.score - scoreB.score) < Self.uncalibratedTieMargin {
            verdict = .tie
        } else {
            verdict = scoreA.score > scoreB.score ? .a : .b
        }
        return JudgeComparison(verdict: verdict, a: scoreA, b: scoreB)
    }

    /// The calibrated probability that the Judge prefers `a` over `b`.
    public func preferenceProbability(prompt: String, a: String, b: String) throws -> Double {
        let difference = try scored(prompt: prompt, candidate: a).raw - scored(prompt: prompt, candidate: b).raw
        return calibration.preferenceProbability(rawDifference: difference)
    }

    // MARK: Model

    /// The token ids the model reads, as `modeling/judge.py` (training and the service) builds them:
    /// BOS + tokens(prompt) + tokens("\n\n") + tokens(candidate); an input too long keeps the head of the
    /// prompt and the tail of the candidate.
    public func inputIds(prompt: String, candidate: String) throws -> [Int] {
        let limit = min(contract.model.maxSeqLen, lengths.last ?? contract.model.maxSeqLen)
        let (head, separator, tail) = (tokenizer.encode(prompt), tokenizer.encode("\n\n"),
                                       tokenizer.encode(candidate))
        let room = limit - 1 - separator.count
        guard room >= 2 else {
            throw JudgeModelError.prediction("\(limit) tokens leave no room for a prompt and a candidate")
        }
        if head.count + tail.count <= room {
            return [bosId] + head + separator + tail
        }
        let keepHead = min(head.count, max(room / 2, room - tail.count))
        let keepTail = room - keepHead
        return [bosId] + Array(head.prefix(keepHead)) + separator + Array(tail.suffix(keepTail))
    }

    /// The smallest enumerated length that holds `count` tokens.
    public func width(for count: Int) -> Int {
        lengths.first { $0 >= count } ?? lengths.last ?? count
    }

    private struct Scored {
        var raw: Double
        var score: Double
        var clauses: [String: Double]
    }

    private func scored(prompt: String, candidate: String) throws -> Scored {
        let (raw, logits) = try predict(try inputIds(prompt: prompt, candidate: candidate))
        var clauses: [String: Double] = [:]
        for (name, logit) in zip(judgeClauses, logits) {
            clauses[name] = calibration.clauseProbability(name, logit: logit)
        }
        return Scored(raw: raw, score: calibration.scoreProbability(raw), clauses: clauses)
    }

    /// Raw score logit and clause logits for one input.
    private func predict(_ ids: [Int]) throws -> (Double, [Double]) {
        let padded = width(for: ids.count)
        let pad = padId
        let idsArray = try MLMultiArray(shape: [1, NSNumber(value: padded)], dataType: .int32)
        idsArray.withUnsafeMutableBufferPointer(ofType: Int32.self) { buffer, _ in
            for index in 0..<padded {
                buffer[index] = Int32(index < ids.count ? ids[index] : pad)
            }
        }
        let lengthArray = try MLMultiArray(shape: [1], dataType: .int32)
        lengthArray[0] = NSNumber(value: ids.count)
        let features = try MLDictionaryFeatureProvider(dictionary: [
            "input_ids": MLFeatureValue(multiArray: idsArray),
            "length": MLFeatureValue(multiArray: lengthArray),
        ])
        let output = try model.prediction(from: features)
        guard let scoreArray = output.featureValue(for: "score")?.multiArrayValue,
            let clauseArray = output.featureValue(for: "clause_logits")?.multiArrayValue,
            scoreArray.count >= 1, clauseArray.count == judgeClauses.count
        else {
            throw JudgeModelError.prediction("the model did not return score [1] and clause_logits [1, 5]")
        }
        return (scoreArray[0].doubleValue, (0..<clauseArray.count).map { clauseArray[$0].doubleValue })
    }

    private static func rounded(_ result: Scored) -> JudgeScore {
        JudgeScore(score: round4(result.score), clauses: result.clauses.mapValues(round4))
    }

    static func round4(_ value: Double) -> Double {
        (value * 10_000).rounded() / 10_000
    }
}
#endif
