//! Prometheus remote-write 1.0 messages (`prometheus.WriteRequest` of
//! Prometheus's `prompb/remote.proto` and `types.proto`), the fields a
//! sender of plain samples uses, with the field numbers of the spec.
//! Encoded with prost; the request body is this message, snappy block
//! compressed.

/// One request: series with their samples, and optional metadata.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metric metadata (type, help, unit) by family name.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// A series: its labels (sorted by name, `__name__` among them) and
/// samples (oldest first).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// A label.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// A sample.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// A metric family's metadata.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// The family's type (`MetricType` of the spec: 0 unknown, 1 counter,
    /// 2 gauge, 3 histogram, 4 gaugehistogram, 5 summary, 6 info,
    /// 7 stateset).
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// The family name.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// Help text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// Unit.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// Prometheus's staleness marker: a NaN with this bit pattern ends a
/// series (sent when a series of the last batch is missing from this one).
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// The spec's type code for an exposition `# TYPE` word.
pub fn type_code(word: &str) -> i32 {
    match word {
        "counter" => 1,
        "gauge" => 2,
        "histogram" => 3,
        "gaugehistogram" => 4,
        "summary" => 5,
        "info" => 6,
        "stateset" => 7,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn encoding_matches_the_spec_field_numbers() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 1000,
                }],
            }],
            metadata: vec![],
        };
        let b = req.encode_to_vec();
        // timeseries (1, length-delimited) { labels (1) { name (1) value (2) } samples (2) { value (1, fixed64) timestamp (2, varint) } }
        let expect: Vec<u8> = [
            vec![0x0a, 30, 0x0a, 14, 0x0a, 8],
            b"__name__".to_vec(),
            vec![0x12, 2],
            b"up".to_vec(),
            vec![0x12, 12, 0x09],
            1.0f64.to_le_bytes().to_vec(),
            vec![0x10, 0xe8, 0x07],
        ]
        .concat();
        assert_eq!(b, expect);
        assert_eq!(WriteRequest::decode(&b[..]).unwrap(), req);
    }
}
