import{b3 as i}from"./index-CONT5NAr.js";const n=o=>["",...i].includes(o);export{n as i};
