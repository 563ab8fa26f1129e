import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Profiles
import Testing
@testable import ProfileOutputs

/// The frames of a flame graph SVG as an XML parser reads them.
final class FlameGraphFrames: NSObject, XMLParserDelegate {
    struct DrawnFrame {
        var title = ""
        var rects: [[String: String]] = []
        var label: String?
        var x: Double { Double(rects.first?["x"] ?? "") ?? .nan }
        var y: Double { Double(rects.first?["y"] ?? "") ?? .nan }
        var width: Double { Double(rects.first?["width"] ?? "") ?? .nan }
        /// The name: the title up to the type note or the count.
        var name: String {
            let upToCount = title.components(separatedBy: ": ").dropLast().joined(separator: ": ")
            guard let note = upToCount.range(of: " (", options: .backwards) else { return upToCount }
            return String(upToCount[..<note.lowerBound])
        }
        var count: Int64 {
            Int64(title.components(separatedBy: ": ").last!.components(separatedBy: " ").first!) ?? -1
        }
    }

    private(set) var frames: [DrawnFrame] = []
    private(set) var texts: [String] = []
    private var current: DrawnFrame?
    private var element: [String] = []
    private var text = ""

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        element.append(name)
        text = ""
        if name == "g" && attributes["class"] == "frame" { current = DrawnFrame() }
        if name == "rect", current != nil { current?.rects.append(attributes) }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        element.removeLast()
        switch name {
        case "title" where current != nil: current?.title = text
        case "text" where current != nil: current?.label = text
        case "text": texts.append(text)
        case "g":
            if let current { frames.append(current) }
            current = nil
        default: break
        }
        text = ""
    }

    static func parse(_ svg: String) throws -> FlameGraphFrames {
        let parser = XMLParser(data: Data(svg.utf8))
        let frames = FlameGraphFrames()
        parser.delegate = frames
        guard parser.parse() else {
            throw CommandFailure(description: "SVG is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?") at line \(parser.lineNumber)")
        }
        return frames
    }
}

@Suite struct FlameGraphSVGTests {
    @Test func isWellFormedWithOneRectPerFrameNode() throws {
        let svg = FlameGraphSVG().render(Fixture.aggregate)
        let parsed = try FlameGraphFrames.parse(svg)
        // all; bash main readline; spin [truncated] main libc; main weird work compute libc
        // __x64_sys_write copy_user_generic; swapper/0
        #expect(parsed.frames.count == 16)
        #expect(parsed.frames.allSatisfy { $0.rects.count == 1 })
        #expect(parsed.texts.contains("14 samples"))
    }

    @Test func widthsAreProportionalToCounts() throws {
        let parsed = try FlameGraphFrames.parse(FlameGraphSVG(width: 1200).render(Fixture.aggregate))
        let pixelsPerSample = (1200.0 - 20) / 14
        for frame in parsed.frames {
            #expect(abs(frame.width - Double(frame.count) * pixelsPerSample) < 0.01, "\(frame.title)")
        }
        let root = try #require(parsed.frames.first { $0.name == FlameGraphSVG.rootName })
        #expect(root.count == 14)
        // The root is the bottom row.
        #expect(parsed.frames.allSatisfy { $0.y <= root.y })
    }

    @Test func tooltipsNameTypeCountAndShare() throws {
        let parsed = try FlameGraphFrames.parse(FlameGraphSVG().render(Fixture.aggregate))
        let titles = Set(parsed.frames.map(\.title))
        #expect(titles.contains("compute (native): 5 samples, 35.71%"))
        #expect(titles.contains("copy_user_generic (kernel): 1 sample, 7.14%"))
        #expect(titles.contains("spin (process): 8 samples, 57.14%"))
        #expect(titles.contains("all: 14 samples, 100.00%"))
        let compute = try #require(parsed.frames.first { $0.name == "compute" })
        #expect(compute.label == "compute")
    }

    @Test func siblingsAreSortedByNameAndStackedOnTheirCaller() throws {
        let parsed = try FlameGraphFrames.parse(FlameGraphSVG().render(Fixture.aggregate))
        func frame(_ name: String, count: Int64) throws -> FlameGraphFrames.DrawnFrame {
            try #require(parsed.frames.first { $0.name == name && $0.count == count })
        }
        let bash = try frame("bash", count: 4), spin = try frame("spin", count: 8)
        let swapper = try frame("swapper/0", count: 2)
        #expect(bash.x < spin.x && spin.x < swapper.x)
        #expect(bash.y == spin.y && spin.y == swapper.y)
        let truncated = try frame(StackPathStyle.truncationMarker, count: 1), main = try frame("main", count: 7)
        #expect(truncated.x == spin.x && truncated.x < main.x)
        #expect(main.y < spin.y)
        let weird = try frame("weird;name", count: 1), work = try frame("work", count: 6)
        #expect(weird.x == main.x && weird.x < work.x)
    }

    @Test func namesAreEscapedAndElided() throws {
        var aggregate = ProfileAggregate()
        let name = "std::vector<int, alloc<\"q\">>::push_back&'" + String(repeating: "x", count: 300)
        let frame = Frame(type: .native, address: 0x1000, functionName: name)
        aggregate.add(Fixture.sample(Fixture.spin, tid: 1, weight: 1, [frame]))
        let parsed = try FlameGraphFrames.parse(FlameGraphSVG(width: 400).render(aggregate))
        let drawn = try #require(parsed.frames.first { $0.count == 1 && $0.name == name })
        let label = try #require(drawn.label)
        #expect(label.hasSuffix(".."))
        #expect(name.hasPrefix(label.dropLast(2)))
        #expect(label.count < 60)
    }

    @Test func framesTooNarrowAreLeftOutAndSaid() throws {
        var aggregate = ProfileAggregate()
        aggregate.add(Fixture.sample(Fixture.spin, tid: 1, weight: 10_000, [Fixture.compute]))
        aggregate.add(Fixture.sample(Fixture.bash, tid: 2, weight: 1, [Fixture.readline]))
        let parsed = try FlameGraphFrames.parse(FlameGraphSVG(width: 1200, minimumFrameWidth: 1).render(aggregate))
        #expect(!parsed.frames.contains { $0.name == "bash" || $0.name == "readline" })
        #expect(parsed.frames.count == 3)
        #expect(parsed.texts.contains { $0.contains("not drawn (1 sample)") })
    }

    @Test func emptyProfileIsStillAnImage() throws {
        let parsed = try FlameGraphFrames.parse(FlameGraphSVG().render(ProfileAggregate()))
        #expect(parsed.texts.contains("0 samples"))
        #expect(parsed.frames.isEmpty)
    }
}

/// Renders the SVG with a real SVG renderer (librsvg's rsvg-convert, Debian
/// package librsvg2-bin), which rejects what it cannot draw.
@Suite struct FlameGraphRenderingTests {
    @Test func rsvgRendersItAtTheStatedSize() throws {
        let svgPath = temporaryPath("flame.svg"), pngPath = temporaryPath("flame.png")
        try FlameGraphSVG(width: 900).write(Fixture.aggregate, toFile: svgPath)
        _ = try run(["rsvg-convert", "--format=png", "--output=\(pngPath)", svgPath],
                    installHint: "apt-get install -y librsvg2-bin")
        let png = try [UInt8](Data(contentsOf: URL(fileURLWithPath: pngPath)))
        #expect(png.prefix(8) == [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
        // IHDR: the width is the big-endian UInt32 at offset 16.
        let width = png[16..<20].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 900)
    }
}
