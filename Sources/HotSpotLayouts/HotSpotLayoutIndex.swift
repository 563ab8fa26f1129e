extension HotSpotLayout {
    /// The index in `supported` of the layout of JDK feature version `featureVersion`, if any.
    public static func index(ofFeatureVersion featureVersion: Int) -> Int? {
        supported.firstIndex { $0.featureVersion == featureVersion }
    }

    /// The feature versions `supported` describes, for messages ("17").
    public static var supportedFeatureVersions: String {
        supported.map { String($0.featureVersion) }.joined(separator: ", ")
    }
}
