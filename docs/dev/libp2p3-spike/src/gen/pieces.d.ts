import type { Codec, DecodeOptions } from 'protons-runtime';
import type { Uint8ArrayList } from 'uint8arraylist';
export interface PieceRequest {
    cid: Uint8Array<ArrayBuffer>;
    offset: bigint;
    length: number;
}
export declare namespace PieceRequest {
    const codec: () => Codec<PieceRequest>;
    interface PieceRequestCidFieldEvent {
        field: '$.cid';
        value: Uint8Array<ArrayBuffer>;
    }
    interface PieceRequestOffsetFieldEvent {
        field: '$.offset';
        value: bigint;
    }
    interface PieceRequestLengthFieldEvent {
        field: '$.length';
        value: number;
    }
    function encode(obj: Partial<PieceRequest>): Uint8Array<ArrayBuffer>;
    function decode(buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PieceRequest>): PieceRequest;
    function stream(buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PieceRequest>): Generator<PieceRequestCidFieldEvent | PieceRequestOffsetFieldEvent | PieceRequestLengthFieldEvent>;
}
export interface PieceResponse {
    status: PieceResponse.Status;
    payloadLength: number;
    error?: string;
}
export declare namespace PieceResponse {
    enum Status {
        OK = "OK",
        NOT_FOUND = "NOT_FOUND",
        ERROR = "ERROR"
    }
    namespace Status {
        const codec: () => Codec<Status>;
    }
    const codec: () => Codec<PieceResponse>;
    interface PieceResponseStatusFieldEvent {
        field: '$.status';
        value: PieceResponse.Status;
    }
    interface PieceResponsePayloadLengthFieldEvent {
        field: '$.payloadLength';
        value: number;
    }
    interface PieceResponseErrorFieldEvent {
        field: '$.error';
        value: string;
    }
    function encode(obj: Partial<PieceResponse>): Uint8Array<ArrayBuffer>;
    function decode(buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PieceResponse>): PieceResponse;
    function stream(buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PieceResponse>): Generator<PieceResponseStatusFieldEvent | PieceResponsePayloadLengthFieldEvent | PieceResponseErrorFieldEvent>;
}
