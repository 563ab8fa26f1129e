import Profiles
import Testing
@testable import ProfileOutputs

@Suite struct TextReportTests {
    static let kernelSamples: [KernelStackClassification: Int64] = [
        KernelStackClassification(kernelClass: "network/tcp/write"): 1,
        KernelStackClassification(kernelClass: "ipc//read"): 3,
        KernelStackClassification(kernelClass: "disk//read"): 3,
    ]

    @Test func everySectionAccountsForEverySample() {
        for topCount in [0, 1, 2, 3, 100] {
            let sections = TextReport(topCount: topCount).sections(Fixture.aggregate, kernelSamples: Self.kernelSamples)
            #expect(sections.count == 3)
            for section in sections {
                #expect(section.rows.reduce(0) { $0 + $1.count } == Fixture.total, "\(section.title), top \(topCount)")
                #expect(abs(section.rows.reduce(0) { $0 + $1.share } - 1) < 1e-9, "\(section.title), top \(topCount)")
            }
        }
    }

    @Test func rowsSortMostFirstThenByNameWithRemaindersLast() {
        let sections = TextReport(topCount: 3).sections(Fixture.aggregate, kernelSamples: Self.kernelSamples)
        #expect(sections[0].rows.map(\.label) == ["compute", "readline", "copy_user_generic",
                                                  TextReport.otherFunctionsLabel, TextReport.noFramesLabel])
        #expect(sections[0].rows.map(\.count) == [5, 4, 1, 2, 2])
        #expect(sections[0].rows.map(\.type) == [.native, .native, .kernel, nil, nil])
        #expect(sections[1].rows.map(\.label) == ["native", "kernel", TextReport.noFramesLabel])
        #expect(sections[1].rows.map(\.count) == [11, 1, 2])
        #expect(sections[2].rows.map(\.label) == ["disk//read", "ipc//read", "network/tcp/write", TextReport.noKernelClassLabel])
        #expect(sections[2].rows.map(\.count) == [3, 3, 1, 7])
    }

    @Test func renderedTextIsAligned() {
        let text = TextReport(topCount: 2).render(Fixture.aggregate, kernelSamples: [KernelStackClassification(kernelClass: "network/tcp/write"): 1])
        #expect(text == """
        Samples: 14

        Top 2 leaf functions:
           share  samples  type    function
          35.71%        5  native  compute
          28.57%        4  native  readline
          21.43%        3          (other leaf functions)
          14.29%        2          (no frames)

        Samples by leaf frame type:
           share  samples  frame type
          78.57%       11  native
           7.14%        1  kernel
          14.29%        2  (no frames)

        Samples by kernel class:
           share  samples  kernel class
           7.14%        1  network/tcp/write
          92.86%       13  (no kernel class)

        """)
    }

    @Test func withoutKernelClassesThatSectionIsLeftOut() {
        let text = TextReport().render(Fixture.aggregate)
        #expect(!text.contains("kernel class"))
        #expect(TextReport().sections(Fixture.aggregate).count == 2)
    }

    @Test func droppedSamplesAreReported() {
        var aggregate = ProfileAggregate(maximumDistinctStacks: 1)
        aggregate.add(contentsOf: Fixture.samples)
        #expect(TextReport().render(aggregate).hasPrefix("Samples: 3 (plus 11 dropped: more than 1 distinct stacks)\n"))
    }

    @Test func emptyProfile() {
        let sections = TextReport().sections(ProfileAggregate())
        #expect(sections.allSatisfy { $0.rows.isEmpty })
        #expect(TextReport().render(ProfileAggregate()).hasPrefix("Samples: 0\n"))
    }
}
